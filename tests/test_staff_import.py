"""U9 / D6 / H5 batch import of staff: template, preview, all-or-nothing or valid rows, failed rows, re-import,
the T1 file and row checks, T10 atomicity, T2 scope, the accounts the import creates."""
from __future__ import annotations

import io
import json
import zipfile

import openpyxl
import pytest
from sqlalchemy import func, select, text

from app.demo import make_id_number
from app.extensions import db
from app.models import Account, ImportBatch, Membership, Person, RoleName
from app.workflows import staff_import as flow
from app.workflows.spreadsheet import FileRefused
from tests import factories
from tests.helpers import csrf_from, login, make_person, page, zh

pytestmark = pytest.mark.usefixtures("fresh_id_sequence")

KEYS = [c.key for c in flow.COLUMNS]


def template_headers() -> list[str]:
    return [f"{zh(c.header._args[0])}{'*' if c.required else ''}" for c in flow.COLUMNS]


def idn(n: int) -> str:
    """A valid 证件号 no factory account uses (born 1985)."""
    import datetime

    return make_id_number("370102", datetime.date(1985, 3, 1) + datetime.timedelta(days=n), 500 + n)


def row(n: int, **values) -> dict:
    base = {"name": f"导入人员{chr(0x4e00 + n)}", "id_number": idn(n), "ethnicity": "汉族", "education": "大学本科",
            "title_series": "卫生技术", "title_level": "中级", "mobile": "13900000000",
            "graduation_date": "2010-07-01"}
    base.update(values)
    return {k: v for k, v in base.items() if v is not None}


def xlsx(rows: list[dict], headers: list[str] | None = None, edit=None) -> bytes:
    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.append(headers or template_headers())
    for r in rows:
        sheet.append([r.get(k) for k in KEYS])
    if edit:
        edit(sheet)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def actor(world, who="unit_admin", org="unit"):
    account = getattr(world, who)
    role = {"unit_admin": RoleName.UNIT_ADMIN, "dept_admin": RoleName.DEPT_ADMIN, "district_admin": RoleName.HR_ADMIN,
            "city_admin": RoleName.HR_ADMIN, "other_unit_admin": RoleName.UNIT_ADMIN}[who]
    return factories.actor_for(account, role, getattr(world, org))


def start(world, content: bytes, mode="valid", who="unit_admin", org="unit", name="人员.xlsx") -> ImportBatch:
    a = actor(world, who, org)
    membership = db.session.scalar(select(Membership).where(Membership.user_id == a.user_id))
    return flow.start(a, membership.id, name, content, mode, "zh")


def counts() -> tuple[int, int, int]:
    return (db.session.scalar(select(func.count(Account.id))), db.session.scalar(select(func.count(Person.id))),
            db.session.scalar(select(func.count(Membership.id))))


def reasons(batch) -> dict[int, str]:
    return {number: "；".join(r) for number, r, _cells in flow.failures(batch)}


# ---------------------------------------------------------------- the template

def test_template_has_chinese_headers_example_dropdowns_and_explanations(app, world):
    with app.test_request_context():
        wb = openpyxl.load_workbook(io.BytesIO(flow.template_workbook()))
    data, lists, guide = wb.worksheets
    headers = template_headers()
    assert [c.value for c in data[1]] == headers and "姓名*" in headers and "证件号码*" in headers
    assert data.cell(row=2, column=1).value == flow.EXAMPLE["name"]
    ranges = {str(dv.sqref): dv.formula1 for dv in data.data_validations.dataValidation}
    series_col = openpyxl.utils.get_column_letter(KEYS.index("title_series") + 1)
    assert any(ref.startswith(f"{series_col}2") for ref in ranges)
    assert lists.sheet_state == "hidden"
    assert "卫生技术" in [c.value for c in lists[series_col]]
    explained = {r[0].value: r[2].value for r in guide.iter_rows(min_row=2) if r and r[0].value and len(r) > 2}
    assert "正高级" in explained["职称级别"] and explained["证件号码"]


def test_untouched_template_has_no_rows(app, world):
    with app.test_request_context():
        batch = start(world, flow.template_workbook())
    assert batch.state == "refused" and batch.message == zh("The file has no rows to import.")


# ---------------------------------------------------------------- preview, import, failed rows, re-import

def test_preview_then_valid_rows_then_failed_rows_file_then_reimport(app, world):
    rows = [row(1), row(2, id_number=idn(2)[:-1] + ("0" if idn(2)[-1] != "0" else "1")),  # bad check digit
            row(3, title_level="特级"), row(4, id_number=idn(1)),                          # not a choice; duplicate
            row(5, graduation_date="07/01/2010"), row(6, unit=world.other_unit.name),      # text date; foreign unit
            row(7, email="dup@example.cn"), row(8, email="DUP@example.cn"), row(9, name="=HYPERLINK(\"x\")"),
            row(10, unit=world.sub_unit.name), row(11, id_number=world.unit_admin.username)]
    before = counts()
    with app.test_request_context():
        batch = start(world, xlsx(rows))
        assert batch.state == "checked" and counts() == before  # the preview writes nothing
        assert (batch.total_rows, batch.valid_rows, batch.failed_rows) == (11, 3, 8)
        why = reasons(batch)
        assert set(why) == {3, 4, 5, 6, 7, 9, 10, 12}
    assert "证件号码" in why[3]
    assert "职称级别" in why[4] and "第 2 行" in why[5]
    assert why[6] == "毕业时间：" + zh("is not a date such as 2020-07-01")
    assert world.other_unit.name in why[7]
    assert "电子邮箱" in why[9] and "公式" in why[10]
    assert "平台账号" in why[12]
    with app.test_request_context():
        done = flow.confirm(actor(world), batch.id)
    assert done.state == "done" and done.created_rows == 3 and done.failed_rows == 8
    assert counts()[0] == before[0] + 3
    sub = db.session.scalar(select(Person).where(Person.id_number == idn(10)))
    assert sub.unit_id == world.sub_unit.id and sub.is_staff
    imported = db.session.scalar(select(Account).where(Account.username == idn(1)))
    assert imported.must_change_password and imported.password.startswith("initial!")
    person = db.session.scalar(select(Person).where(Person.user_id == imported.id))
    assert (person.unit_id, person.title_level, person.gender, str(person.graduation_date)) == \
        (world.unit.id, "中级", "F" if int(idn(1)[16]) % 2 == 0 else "M", "2010-07-01")

    with app.test_request_context():
        failed = openpyxl.load_workbook(io.BytesIO(flow.failed_rows_workbook(done)))
    sheet = failed.worksheets[0]
    lines = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [line[-2] for line in lines] == sorted(reasons(done))  # exactly the reported rows, in order
    assert all(line[-1] for line in lines)
    assert all(cell.data_type != "f" for line in sheet.iter_rows() for cell in line)  # the formula came back as text

    with app.test_request_context():
        again = flow.confirm(actor(world), start(world, xlsx(rows)).id)
    assert again.created_rows == 0 and again.existing_rows == 3 and counts()[0] == before[0] + 3


def test_all_or_nothing_writes_nothing_when_a_row_fails(app, world):
    before = counts()
    with app.test_request_context():
        batch = start(world, xlsx([row(1), row(2), row(3, mobile="123")]), mode="all")
        assert batch.failed_rows == 1
        result = flow.confirm(actor(world), batch.id)
    assert result.state == "refused" and result.created_rows == 0 and counts() == before
    assert result.message == zh("%(n)s rows have problems: as asked, nothing was imported.", n=1)


def test_imported_person_logs_in_with_initial_password_and_must_change_it(app, world, client):
    with app.test_request_context():
        flow.confirm(actor(world), start(world, xlsx([row(1)])).id)
    response = login(client, idn(1), idn(1)[-6:], follow=False)
    assert response.status_code == 302
    assert "/password" in client.get("/").headers.get("Location", "")


# ---------------------------------------------------------------- T10: atomicity

@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_failure_while_writing_leaves_nothing(app, world, monkeypatch, where):
    rows = [row(n) for n in range(1, 8)]
    with app.test_request_context():
        batch = start(world, xlsx(rows), mode="all")
    before = counts()
    monkeypatch.setattr(flow, "CHUNK", 1)
    target = {"first": 1, "middle": 4, "last": 7}[where]
    real_insert, calls = flow._insert, []

    def failing(chunk):
        calls.append(chunk)
        if len(calls) == target:
            raise RuntimeError("disk full")
        return real_insert(chunk)

    monkeypatch.setattr(flow, "_insert", failing)
    with app.test_request_context():
        result = flow.confirm(actor(world), batch.id)
    assert result.state == "interrupted" and counts() == before
    assert result.message == zh("An error stopped the import. Nothing was imported: try again, or tell the "
                                "platform's operators if it happens again.")


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_row_that_became_invalid_since_the_preview_stops_an_all_or_nothing_import(app, world, where):
    rows = [row(n) for n in range(1, 8)]
    with app.test_request_context():
        batch = start(world, xlsx(rows), mode="all")
    assert batch.failed_rows == 0
    taken = {"first": 1, "middle": 4, "last": 7}[where]
    factories.make_account("抢先注册的人", [(RoleName.PROFESSIONAL, world.other_unit)], id_number=idn(taken),
                           person_unit=world.other_unit)
    before = counts()
    with app.test_request_context():
        result = flow.confirm(actor(world), batch.id)
    assert result.state == "refused" and counts() == before and set(reasons(result)) == {taken + 1}


def test_two_confirms_at_once_import_once(app, world):
    with app.test_request_context():
        batch = start(world, xlsx([row(1), row(2)]))
        flow.confirm(actor(world), batch.id)
        with pytest.raises(flow.DomainError):
            flow.confirm(actor(world), batch.id)
    assert db.session.scalar(select(func.count()).select_from(Account).where(Account.username == idn(1))) == 1


# ---------------------------------------------------------------- T1: files that are not what they claim

def _bomb() -> bytes:
    content = io.BytesIO(xlsx([row(1)]))
    out = io.BytesIO()
    with zipfile.ZipFile(content) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/workbook.xml":
                data = data.replace(b"<workbook", b'<!DOCTYPE workbook [<!ENTITY a "aaaaaaaaaa"><!ENTITY b '
                                    b'"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
                                    b"<workbook", 1)
            dst.writestr(item, data)
    return out.getvalue()


def _merged(sheet):
    sheet.merge_cells("A2:A3")


FILES = {
    "renamed png": (factories.sample_image(), "This is not an Excel workbook (.xlsx). Download the template, fill it "
                    "in and upload it without renaming another kind of file."),
    "encrypted or xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "The file is encrypted or in the old "
                         "Excel 97-2003 (.xls) format. Remove the password, save it as an Excel workbook (.xlsx) and "
                         "upload it again."),
    "zip without workbook": (b"", None),
    "xml bomb": (None, "The file contains XML the platform does not accept."),
    "merged cells": (None, None),
    "wrong headers": (None, None),
}


@pytest.mark.parametrize("case", list(FILES))
def test_bad_files_are_refused_with_a_clear_message_and_write_nothing(app, world, case):
    content, msgid = FILES[case]
    if case == "zip without workbook":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("hello.txt", "hi")
        content = buffer.getvalue()
        msgid = ("This is not an Excel workbook (.xlsx). Download the template, fill it in and upload it without "
                 "renaming another kind of file.")
    elif case == "xml bomb":
        content = _bomb()
    elif case == "merged cells":
        content = xlsx([row(1), row(2)], edit=_merged)
    elif case == "wrong headers":
        content = xlsx([row(1)], headers=["姓名", "身份证", "单位名称"])
    before = counts()
    with app.test_request_context():
        batch = start(world, content)
    assert batch.state == "refused" and counts() == before
    if case == "merged cells":
        assert batch.message == zh("The sheet has merged cells (%(range)s). Unmerge every cell, keep one value per "
                                   "cell and upload it again.", range="A2:A3")
    elif case == "wrong headers":
        assert "证件号码" in batch.message and "身份证" in batch.message
    else:
        assert batch.message == zh(msgid)


def test_id_number_typed_as_a_number_and_too_many_rows(app, world, monkeypatch):
    with app.test_request_context():
        batch = start(world, xlsx([row(1, id_number=int(idn(1)[:15]))]))
    assert "文本" in reasons(batch)[2]
    monkeypatch.setitem(app.config, "IMPORT_MAX_ROWS", 3)
    with app.test_request_context():
        batch = start(world, xlsx([row(n) for n in range(1, 5)]))
    assert batch.state == "refused" and "3" in batch.message


def test_gzip_bomb_size_is_checked_before_parsing(app, world, monkeypatch):
    from app.workflows import spreadsheet

    monkeypatch.setattr(spreadsheet, "MAX_UNPACKED", 1000)
    with app.test_request_context():
        batch = start(world, xlsx([row(1)]))
    assert batch.state == "refused" and "MB" in batch.message


def test_spreadsheet_reader_refuses_directly(app, tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"not a zip at all")
    with app.test_request_context(), pytest.raises(FileRefused):
        list(flow.read_rows(str(path), flow.COLUMNS, 10))


# ---------------------------------------------------------------- T2: scope, pages

def test_scope_units_and_records(app, world, client):
    with app.test_request_context():
        by_dept = start(world, xlsx([row(1, unit=world.unit.name), row(2, unit=world.other_unit.credit_code)]),
                        who="dept_admin", org="dept")
    assert by_dept.valid_rows == 1 and set(reasons(by_dept)) == {3}
    with app.test_request_context():
        mine = start(world, xlsx([row(3)]))
    login(client, world.other_unit_admin.username, role="UnitAdmin")
    assert client.get(f"/import/batch/{mine.id}").status_code == 404
    assert client.get(f"/import/batch/{mine.id}/failed.xlsx").status_code == 404
    assert client.get(f"/import/batch/{mine.id}/status").status_code == 404
    token = csrf_from(client.get("/import/").get_data(as_text=True))
    assert client.post(f"/import/batch/{mine.id}/confirm", data={"csrf_token": token}).status_code == 404
    assert mine.file_name not in page(client.get("/import/"))
    city = app.test_client()
    login(city, world.city_admin.username, role="HRAdmin")
    listing = page(city.get("/import/"))
    assert listing.count("人员.xlsx") == 2  # the city sees the imports of the orgs below it
    pro = app.test_client()
    factories.make_account("某专技人员", [(RoleName.PROFESSIONAL, world.unit)], id_number=idn(40),
                           person_unit=world.unit)
    login(pro, idn(40))
    assert pro.get("/import/").status_code in (302, 403)
    assert pro.get("/import/template.xlsx").status_code in (302, 403)


def test_pages_upload_preview_import_and_download(app, world, client):
    login(client, world.unit_admin.username, role="UnitAdmin")
    index = client.get("/import/")
    assert index.status_code == 200 and zh("Download the template") in page(index)
    template = client.get("/import/template.xlsx")
    assert template.status_code == 200 and template.data[:2] == b"PK"
    token = csrf_from(index.get_data(as_text=True))
    response = client.post("/import/upload", data={"csrf_token": token, "mode": "valid",
                                                   "file": (io.BytesIO(xlsx([row(1), row(2, mobile="1")])), "a.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    preview = client.get(response.headers["Location"])
    text = page(preview)
    assert zh("Rows with problems") in text and "手机号码" in text and zh("Import %(n)s new people", n=1) in text
    batch_id = response.headers["Location"].rstrip("/").split("/")[-1]
    status = client.get(f"/import/batch/{batch_id}/status").get_json()
    assert status["state"] == "checked" and not status["running"]
    confirm = client.post(f"/import/batch/{batch_id}/confirm",
                          data={"csrf_token": csrf_from(preview.get_data(as_text=True)), "mode": "valid"})
    assert confirm.status_code == 302
    assert zh("Imported") in page(client.get(f"/import/batch/{batch_id}"))
    failed = client.get(f"/import/batch/{batch_id}/failed.xlsx")
    assert failed.status_code == 200
    assert len(list(openpyxl.load_workbook(io.BytesIO(failed.data)).worksheets[0].iter_rows(min_row=2))) == 1
    # an upload without a file, or with a bad mode: a message, nothing stored
    before = db.session.scalar(select(func.count(ImportBatch.id)))
    for data in ({"mode": "valid"}, {"mode": "sometimes", "file": (io.BytesIO(xlsx([row(3)])), "b.xlsx")}):
        refused = client.post("/import/upload", data={"csrf_token": token, **data}, content_type="multipart/form-data",
                              follow_redirects=True)
        assert refused.status_code == 200
    assert db.session.scalar(select(func.count(ImportBatch.id))) == before
    assert client.get("/import/batch/99999999999").status_code == 404
    assert client.get("/import/batch/abc/status").status_code == 404


def test_batch_problems_are_json_of_the_reported_rows(app, world):
    with app.test_request_context():
        batch = start(world, xlsx([row(1), row(2, name="x")]))
    stored = json.loads(batch.problems_json)
    assert [entry[0] for entry in stored] == [3] and stored[0][2][0] == "x"


def test_the_batch_keeps_the_first_failed_rows_and_the_file_has_them_all(app, world, client, monkeypatch):
    """A file of many failed rows: the page lists the first PREVIEW_ROWS (the batch keeps only those), says how many
    more there are, and the failed-rows file and `failures` have every one of them, in order."""
    monkeypatch.setattr(flow, "PREVIEW_ROWS", 2)
    with app.test_request_context():
        batch = start(world, excel_like([row(n, graduation_date="2010-13-01" if n != 3 else None) for n in range(1, 7)]))
    assert batch.failed_rows == 5 and batch.valid_rows == 1
    assert [entry[0] for entry in json.loads(batch.problems_json)] == [2, 3]
    with app.test_request_context():
        assert [number for number, _reasons, _cells in flow.failures(batch)] == [2, 3, 5, 6, 7]
    login(client, world.unit_admin.username, role="UnitAdmin")
    html = page(client.get(f"/import/batch/{batch.id}"))
    assert html.count('class="import-failure"') == 2
    assert zh("%(n)s more rows with problems are in the file above.", n=3) in html
    sheet = openpyxl.load_workbook(io.BytesIO(client.get(f"/import/batch/{batch.id}/failed.xlsx").data)).worksheets[0]
    assert [r[0].value for r in sheet.iter_rows(min_row=2)] == [row(n)["name"] for n in (1, 2, 4, 5, 6)]


def test_the_english_template_imports_too(app, world):
    """A person using the English interface downloads English headers; they upload as well as the Chinese ones."""
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("en"):
        english = [f"{c.header}{'*' if c.required else ''}" for c in flow.COLUMNS]
    assert "ID number*" in english
    with app.test_request_context():
        batch = start(world, xlsx([row(1)], headers=english))
    assert batch.state == "checked" and batch.valid_rows == 1


def test_an_oversize_upload_is_refused_before_anything_is_stored(app, world, client):
    login(client, world.unit_admin.username, role="UnitAdmin")
    token = csrf_from(client.get("/import/").get_data(as_text=True))
    before = db.session.scalar(select(func.count(ImportBatch.id)))
    huge = io.BytesIO(b"PK\x03\x04" + b"\0" * (app.config["MAX_CONTENT_LENGTH"] + 1))
    response = client.post("/import/upload", data={"csrf_token": token, "mode": "valid", "file": (huge, "大.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert zh("The upload is too large: at most %(mb)s MB can be sent at once.",
              mb=app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)) in page(response)
    assert db.session.scalar(select(func.count(ImportBatch.id))) == before


# ---------------------------------------------------------------- bounded memory

def excel_like(rows: list[dict]) -> bytes:
    """An .xlsx as Excel saves one: every text in the shared-strings table (openpyxl writes inline strings)."""
    from xml.sax.saxutils import escape

    from openpyxl.utils import get_column_letter

    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006"
    strings: dict[str, int] = {}
    lines = []
    for number, values in enumerate([template_headers()] + [[r.get(k) for k in KEYS] for r in rows], start=1):
        cells = "".join(f'<c r="{get_column_letter(index)}{number}" t="s"><v>{strings.setdefault(str(v), len(strings))}'
                        f'</v></c>' for index, v in enumerate(values, start=1) if v is not None)
        lines.append(f'<row r="{number}">{cells}</row>')
    table = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
    kinds = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{package}/content-types"><Default Extension="rels" ContentType='
                               f'"application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
                               f'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType='
                               f'"{kinds}.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType='
                               f'"{kinds}.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType='
                               f'"{kinds}.sharedStrings+xml"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="{package}/relationships"><Relationship Id="rId1" Type="{rel}/'
                       f'officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets><sheet name="人员信息" sheetId="1" '
                           f'r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{package}/relationships"><Relationship Id="rId1" '
                                      f'Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
                                      f'Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{main}"><dimension ref="A1:S{len(lines)}"/><sheetData>'
                                    f'{"".join(lines)}</sheetData></worksheet>',
        "xl/sharedStrings.xml": f'<sst xmlns="{main}" uniqueCount="{len(strings)}">{table}</sst>',
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()


def many(first: int, n: int) -> list[dict]:
    """n new people as a real staff list has them (a distinct name, 证件号, phone and e-mail each); every 5th row has a
    bad date and every 50th repeats the row before's 证件号, so failed rows and duplicates are part of it."""
    import datetime

    rows = []
    for i in range(first, first + n):
        born = datetime.date(1961, 1, 1) + datetime.timedelta(days=i // 700)
        id_number = make_id_number("370124", born, 100 + i % 700)
        rows.append(row(0, name=f"导入{chr(0x4e00 + i % 20000)}{chr(0x4e00 + i // 20000)}", mobile=f"139{i:08d}",
                        email=f"p{i}@example.com", graduation_date="2010-13-01" if i % 5 == 0 else "2010-07-01",
                        id_number=rows[-1]["id_number"] if i % 50 == 0 and rows else id_number))
    return rows


def test_memory_of_check_and_import_does_not_grow_with_the_file(app, world, monkeypatch):
    """Checking and importing 4 times the rows costs no more memory: each step streams the file in chunks (the
    shared strings, the failed rows and the ID numbers met so far are on disk, not in lists or sets). Keeping any of
    them in memory costs 150 to 1,000 bytes a row; the bound allows 60."""
    import gc
    import tracemalloc

    monkeypatch.setattr(flow, "CHUNK", 200)  # chunks small next to the files, so that growth shows
    files = [excel_like(many(first, n)) for first, n in ((0, 400), (1000, 2000), (4000, 8000))]
    peaks = []
    with app.test_request_context():
        for content in files:  # the first one warms the caches up: it is not measured
            gc.collect()
            tracemalloc.start()  # after the upload's bytes were made: they are not the import's memory
            batch = start(world, content)
            done = flow.confirm(actor(world), batch.id)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            assert done.state == "done" and done.failed_rows >= done.total_rows // 5
            assert done.created_rows == done.valid_rows > 0
    growth = (peaks[2] - peaks[1]) / 6000
    assert growth < 60, f"{growth:.0f} bytes a row more (peaks {peaks})"


# ---------------------------------------------------------------- the completion rollup (issue 13)

def rollup_rows() -> tuple:
    db.session.expire_all()
    return tuple(sorted(db.session.execute(text(f"SELECT * FROM {table}")).tuples().all())
                 for table in ("completion_unit", "completion_org", "completion_rollup", "completion_org_year"))


@pytest.mark.parametrize("mode", ["valid", "all"])
def test_imported_people_are_counted_in_the_rollup_exactly_once(app, world, monkeypatch, mode):
    """PostgreSQL defers the imported people's rollup to one step before the commit; both databases end with the
    figures a rebuild from scratch gives (a refused all-or-nothing import leaves them as they were)."""
    from app.models import rollup
    from app.workflows.base import transaction

    people = [row(n) for n in range(1, 6)] + ([row(9, id_number="123")] if mode == "all" else [])
    monkeypatch.setattr(flow, "CHUNK", 2)  # several INSERT statements in the transaction
    with app.test_request_context():
        batch = start(world, xlsx(people), mode=mode)
    before = rollup_rows()
    with app.test_request_context():
        result = flow.confirm(actor(world), batch.id)
    after = rollup_rows()
    if mode == "all":
        assert result.state == "refused" and after == before
        return
    assert result.state == "done" and result.created_rows == 5
    units = dict(after[0])
    assert units[world.unit.id] == dict(before[0]).get(world.unit.id, 0) + 5
    with transaction():
        rollup.rebuild(db.session.connection())
    assert rollup_rows() == after


def test_an_import_holds_no_rollup_row_while_it_writes_its_people(app, world, monkeypatch):
    """PostgreSQL: while the import writes (here: between two chunks), another transaction can take the root
    org's rollup row at once, so hour approvals of the whole city do not wait for the import."""
    from tests.helpers import needs_postgres

    needs_postgres(db)
    make_person("已在职人员", world.unit)  # the city's rollup row exists
    monkeypatch.setattr(flow, "CHUNK", 2)
    with app.test_request_context():
        batch = start(world, xlsx([row(n) for n in range(1, 6)]))
    real_insert, free = flow._insert, []

    def insert_then_try_the_root(chunk):
        written = real_insert(chunk)
        with db.engine.connect() as other:
            other.execute(text("SET lock_timeout = '200ms'"))
            free.append(other.execute(text("SELECT org_id FROM completion_org WHERE org_id = :root FOR UPDATE"),
                                      {"root": world.city.id}).scalar())
            other.rollback()
        return written

    monkeypatch.setattr(flow, "_insert", insert_then_try_the_root)
    with app.test_request_context():
        result = flow.confirm(actor(world), batch.id)
    assert result.state == "done" and result.created_rows == 5
    assert free == [world.city.id] * 3  # every try took the row (a held lock: "lock timeout" raised)
