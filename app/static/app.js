/* Page behaviour: searchable org pickers, captcha refresh, batch selection. No inline scripts (CSP). */
(function ($) {
  "use strict";
  $(function () {
    $("select.org-picker").each(function () {
      var $el = $(this);
      $el.select2({
        width: "100%",
        allowClear: true,
        placeholder: $el.data("placeholder") || "",
        minimumInputLength: 0,
        language: {
          searching: function () { return $el.data("searching"); },
          noResults: function () { return $el.data("no-results"); },
          errorLoading: function () { return $el.data("error"); }
        },
        templateResult: function (item) {
          if (!item.id) { return item.text; }
          var $row = $("<div class='org-option'></div>");
          $("<span class='org-option-name'></span>").text(item.text).appendTo($row);
          if (item.kind || item.parent) {
            $("<small class='org-option-meta'></small>")
              .text([item.kind, item.parent].filter(Boolean).join(" · ")).appendTo($row);
          }
          return $row;
        },
        ajax: {
          url: $el.data("url"),
          dataType: "json",
          delay: 250,
          data: function (params) { return { q: params.term || "", kind: $el.data("kinds") || "" }; },
          processResults: function (data) { return { results: data.results }; }
        }
      });
    });
    // select2 (ours and FAB's form widgets) names its combobox after the selected text only: name it, and its
    // search box, after the <label> of the <select> it replaces (WCAG 4.1.2).
    $("select").filter(function () { return $(this).data("select2"); }).each(function () {
      var $select = $(this);
      var $label = this.id ? $("label[for='" + this.id + "']").first() : $();
      if (!$label.length) { return; }
      var labelId = $label.attr("id") || this.id + "-label";
      $label.attr("id", labelId);
      var $selection = $select.next(".select2").find(".select2-selection");
      var $rendered = $selection.find(".select2-selection__rendered");
      $selection.attr("aria-labelledby", [labelId, $rendered.attr("id")].filter(Boolean).join(" "));
      $rendered.attr("aria-labelledby", labelId);
      $select.on("select2:open", function () {
        $(".select2-container--open .select2-search__field").attr("aria-labelledby", labelId);
      });
    });
    $("button.captcha-refresh").on("click", function () {
      var img = $(this).find("img.captcha-img")[0];
      img.src = img.src.split("?")[0] + "?" + Date.now();
    });
    $("input.select-all").on("change", function () {
      $("input.row-check").prop("checked", this.checked);
    });
    var $existing = $("#existing_user");
    function toggleExisting() { $(".new-user-only").toggle(!$existing.prop("checked")); }
    if ($existing.length) { $existing.on("change", toggleExisting); toggleExisting(); }
  });
})(jQuery);

/* Declaration form: show exactly the fields of the chosen learning form. */
(function ($) {
  "use strict";
  $(function () {
    var $form = $("#form_id");
    if (!$form.length || !$("#declare-form").length) { return; }
    function refresh() {
      var $opt = $form.find("option:selected");
      var fields = ($opt.data("fields") || "").split(",").filter(Boolean);
      $(".form-field").each(function () {
        $(this).toggle(fields.indexOf($(this).data("field")) >= 0);
      });
      $("#detail-fields").toggle(fields.length > 0);
      $("#form-rule").text($opt.data("rule") || "");
    }
    $form.on("change", refresh);
    refresh();
  });
})(jQuery);
