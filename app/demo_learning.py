"""Demo data of online learning (issue 11), loaded by app/demo.py's `seed`: the demo base (济南市专业技术人员继续教育
基地, 孙基地) builds a free 公需 class and a paid 专业 class through the class workflow, each with a course, 2
sections, 1-2 video lessons a section, section quizzes (single, multiple, true-false) and a pop-up question; the
city HR bureau (赵人社) approves both, so they are published as in real life; 王专技 is enrolled in the free class
and has watched its first section (half of the class).

The videos are real: 20-second test patterns with a tone, made by the project's own ffmpeg (H.264/AAC MP4, or
VP9/Opus WebM when libx264 is missing) and cached by their recipe under instance/demo-videos/, so a second demo
build copies them instead of encoding again. Without ffmpeg the classes are made without video files (the demo
says so)."""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import subprocess
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from . import clock
from .extensions import db
from .models import Account, Lesson, LessonProgress, Org, Person, RoleName
from .workflows.accounts import display_name
from .workflows.base import Actor, transaction

SECONDS = 20
# (pattern, tone in Hz) of each distinct demo video; lessons reuse them in turn
RECIPES = [("testsrc", 440), ("smptebars", 523), ("testsrc2", 659), ("rgbtestsrc", 784)]
CLASSES = [
    {"title": "公需科目：数字经济与创新驱动发展", "track": "public", "specialty": "", "hours": Decimal("10"),
     "price": Decimal("0"), "colour": (46, 123, 207),
     "intro": "面向全体专业技术人员的公需科目班级。\n内容涵盖数字经济的基本概念、发展趋势以及创新驱动发展战略。",
     "course": "数字经济概论",
     "sections": [("数字经济的内涵与特征", ["数字经济是什么", "数据要素与价值"]),
                  ("创新驱动发展战略", ["创新驱动的政策体系", "科技成果转化"])]},
    {"title": "卫生专业：急危重症救治能力提升", "track": "professional", "specialty": "卫生专业",
     "hours": Decimal("16"), "price": Decimal("120.00"), "colour": (47, 158, 110),
     "intro": "面向卫生专业技术人员的专业科目班级。\n讲解急危重症的早期识别、评估与规范化救治流程。",
     "course": "急危重症救治",
     "sections": [("急危重症的早期识别", ["早期预警评分"]), ("心肺复苏与生命支持", ["心肺复苏规范", "高级生命支持"])]},
]
QUIZ = [  # (kind, text, options, correct) of every section's quiz
    ("single", "本小节学习的主要内容属于哪一类？", ["公需科目", "专业科目", "其他"], None),
    ("multiple", "下列做法中，哪些有助于提高学习效果？", ["按顺序观看视频", "认真完成随堂提问", "跳过视频直接考试"], [0, 1]),
    ("true_false", "小节测验通过后才能进入下一小节的学习。", [], [0]),
]


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _encoder(ffmpeg: str) -> tuple[str, list[str]]:
    """('mp4', codec args) with libx264, else ('webm', VP9/Opus args)."""
    encoders = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    if "libx264" in encoders:
        return "mp4", ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                       "-movflags", "+faststart"]
    return "webm", ["-c:v", "libvpx-vp9", "-b:v", "300k", "-deadline", "realtime", "-c:a", "libopus"]


def demo_video(ffmpeg: str, pattern: str, tone: int) -> str:
    """The path of a cached demo video (made once per recipe: the cache key is the whole ffmpeg command)."""
    ext, codec = _encoder(ffmpeg)
    args = ["-f", "lavfi", "-i", f"{pattern}=duration={SECONDS}:size=640x360:rate=25", "-f", "lavfi", "-i",
            f"sine=frequency={tone}:duration={SECONDS}", "-shortest", *codec]
    key = hashlib.sha256(json.dumps(args).encode()).hexdigest()[:16]
    cache = os.path.join(current_app.instance_path, "demo-videos")
    path = os.path.join(cache, f"{pattern}-{tone}-{key}.{ext}")
    if not os.path.isfile(path):
        os.makedirs(cache, exist_ok=True)
        partial = f"{path}.{os.getpid()}.part"
        subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", *args, "-f", ext, partial], check=True,
                       timeout=300)
        os.replace(partial, path)
    return path


def _cover(title: str, colour: tuple[int, int, int]) -> bytes:
    """A 640x360 PNG cover: the class's colour, its title in a CJK font when the system has one."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (640, 360), colour)
    draw = ImageDraw.Draw(image)
    for y in range(360):  # a soft vertical gradient
        shade = tuple(min(255, c + y // 6) for c in colour)
        draw.line([(0, y), (640, y)], fill=shade)
    from .workflows.certificates import FontMissing, font_path

    try:
        path, index = font_path()
        font, small = ImageFont.truetype(path, 34, index=index), ImageFont.truetype(path, 26, index=index)
    except (FontMissing, OSError):
        font = small = None
    if font is not None:
        main, _, rest = title.partition("：")
        draw.text((320, 150), main, fill=(255, 255, 255), font=font, anchor="mm")
        if rest:
            draw.text((320, 210), rest, fill=(255, 255, 255), font=small, anchor="mm")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _actor(id_number: str, role: RoleName, org: Org) -> Actor:
    account = db.session.scalar(select(Account).where(Account.username == id_number))
    return Actor(account.id, display_name(account), role, org.id, org.path)


def seed_learning(orgs: dict[str, Org], base_admin_id: str, hr_admin_id: str, learner_id: str) -> None:
    from .workflows import classes

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        _say("ffmpeg is not installed: the online classes are made WITHOUT video files "
             "(install ffmpeg and load the demo into an empty database to have them).")
    base = orgs["b-base1"]
    base_actor = _actor(base_admin_id, RoleName.BASE_ADMIN, base)
    hr_actor = _actor(hr_admin_id, RoleName.HR_ADMIN, orgs["hr-city"])
    today = clock.today()
    made = []
    recipes = iter(RECIPES * 4)
    for spec in CLASSES:
        data = {"title": spec["title"], "track": spec["track"], "specialty": spec["specialty"], "year": today.year,
                "hours": spec["hours"], "price": spec["price"], "intro": spec["intro"],
                "enrol_start": today - datetime.timedelta(days=30), "enrol_end": today + datetime.timedelta(days=180)}
        item = classes.create_class(base_actor, data, cover=("cover.png", _cover(spec["title"], spec["colour"])))
        course = classes.add_course(base_actor, item, spec["course"])
        for n, (section_title, lesson_titles) in enumerate(spec["sections"]):
            section = classes.add_section(base_actor, course, section_title, 60)
            for title in lesson_titles:
                if ffmpeg:
                    pattern, tone = next(recipes)
                    with open(demo_video(ffmpeg, pattern, tone), "rb") as stream:
                        lesson = classes.add_lesson(base_actor, section, title, stream)
                else:
                    with transaction():
                        lesson = Lesson(section_id=section.id, title=title, position=len(section.lessons) + 1)
                        db.session.add(lesson)
            if ffmpeg and n == 0:  # a question pops up half way through the section's first lesson
                first = section.lessons[0]
                classes.add_popup(base_actor, first, int(first.duration // 2), "true_false",
                                  "视频中的测试画面由平台自动生成。", [], [0])
            for kind, text, options, correct in QUIZ:
                classes.add_question(base_actor, section, kind, text, options,
                                     correct if correct is not None else [1 if spec["track"] == "professional" else 0])
        classes.submit(base_actor, item)
        classes.approve(hr_actor, item)
        made.append(item)
    _halfway(made[0], learner_id)
    _say(f"online classes: {', '.join(c.title for c in made)} (published)"
         + ("" if ffmpeg else " - without videos"))


def _halfway(item, learner_id: str) -> None:
    """王专技 in the free class, its first section (2 of its 4 lessons) watched to the end with the pop-up question
    answered, studied an hour ago: half way through."""
    from .workflows import learning

    person = db.session.scalar(select(Person).join(Account, Person.user_id == Account.id)
                               .where(Account.username == learner_id))
    actor = Actor(person.user_id, person.name, RoleName.PROFESSIONAL, person.unit_id,
                  person.unit.path if person.unit else None)
    now = datetime.datetime.now().replace(microsecond=0)
    with transaction():
        enrolment = learning.enrol(item, person, actor)
        enrolment.last_studied_at = now - datetime.timedelta(hours=1)
        first = item.courses[0].sections[0]
        for lesson in first.lessons:
            db.session.add(LessonProgress(enrolment_id=enrolment.id, lesson_id=lesson.id, watched=lesson.duration,
                                          beat_at=now - datetime.timedelta(hours=1),
                                          answered_json=json.dumps([q.id for q in lesson.popups]),
                                          completed_at=now - datetime.timedelta(hours=1)))
