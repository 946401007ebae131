"""Tests for harness.patches: parsing and applying diffs, including cut-off ones.

The fixtures under fixtures/patches are an invented toy allocator (not kernel
code) and patches made from it with git format-patch and diff -u.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import UserError
from harness.sources.applying import apply_file_diff, apply_patches, touched_paths
from harness.sources.patches import (
    FileDiff,
    Patch,
    PatchLoss,
    parse_patch_series,
    split_lines,
    strip_path,
    subject_of,
)

FIXTURES = Path(__file__).parent / "fixtures" / "patches"
PERCPU_C = "mm/percpu.c"
PERCPU_H = "include/linux/percpu.h"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_text(name: str) -> str:
    return fixture_bytes(name).decode()


def toy_base() -> dict[str, str | None]:
    return {
        PERCPU_C: fixture_text("toy-base-percpu.c"),
        PERCPU_H: fixture_text("toy-base-percpu.h"),
    }


def parse_one(text: str, name: str = "test.patch") -> Patch:
    patches = parse_patch_series(text.encode(), name)
    assert len(patches) == 1
    return patches[0]


def user_error(excinfo: pytest.ExceptionInfo[UserError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


FORMAT_PATCH = "0001-toy-track-the-atom-size.patch"


def cut_patch(after: str, keep: int) -> str:
    """The format-patch fixture cut `keep` characters into the last occurrence of `after`."""
    text = fixture_text(FORMAT_PATCH)
    return text[: text.rindex(after) + keep]


def apply_cut(after: str, keep: int) -> tuple[dict[str, str | None], list[PatchLoss]]:
    patch = parse_one(cut_patch(after, keep))
    return apply_patches(toy_base(), [patch])


# --- parsing ---------------------------------------------------------------


def test_format_patch_is_parsed_into_files_and_hunks() -> None:
    (patch,) = parse_patch_series(fixture_bytes(FORMAT_PATCH), FORMAT_PATCH)

    assert patch.name == FORMAT_PATCH
    assert patch.subject == "toy: track the atom size"
    assert not patch.truncated
    assert [(fd.old_path, fd.new_path) for fd in patch.files] == [
        (PERCPU_H, PERCPU_H),
        (PERCPU_C, PERCPU_C),
    ]
    hunks = patch.files[1].hunks
    assert [h.header for h in hunks] == [
        "@@ -4,6 +4,7 @@",
        "@@ -17,6 +18,7 @@",
        "@@ -26,8 +28,8 @@",
    ]
    assert hunks[2].section == "int toy_unit_offset(int cpu)"
    assert (hunks[2].old_start, hunks[2].old_count) == (26, 8)
    assert (hunks[2].new_start, hunks[2].new_count) == (28, 8)
    assert all(h.complete for h in hunks)


def test_format_patch_applies_to_its_base() -> None:
    (patch,) = parse_patch_series(fixture_bytes(FORMAT_PATCH), FORMAT_PATCH)

    result, losses = apply_patches(toy_base(), [patch])

    assert result == {
        PERCPU_C: fixture_text("toy-v1-percpu.c"),
        PERCPU_H: fixture_text("toy-v1-percpu.h"),
    }
    assert losses == []


def test_plain_diff_u_with_timestamps_and_chatter_applies() -> None:
    (patch,) = parse_patch_series(fixture_bytes("plain-diff-u.diff"), "plain-diff-u.diff")

    assert patch.subject == ""
    result, losses = apply_patches(toy_base(), [patch])

    assert result[PERCPU_C] == fixture_text("toy-v1-percpu.c")
    assert losses == []


def test_mbox_series_skips_the_cover_letter_and_applies_in_order() -> None:
    patches = parse_patch_series(fixture_bytes("series-with-cover.mbox"), "s.mbox")

    assert [(p.name, p.subject) for p in patches] == [
        ("s.mbox#1", "toy: track the atom size"),
        ("s.mbox#2", "toy: halve the atom and reset it"),
    ]
    result, losses = apply_patches(toy_base(), patches)
    assert result[PERCPU_C] == fixture_text("toy-v2-percpu.c")
    assert result[PERCPU_H] == fixture_text("toy-v1-percpu.h")
    assert losses == []


def test_series_out_of_order_does_not_apply() -> None:
    first, second = parse_patch_series(fixture_bytes("series-with-cover.mbox"), "s.mbox")

    with pytest.raises(UserError) as excinfo:
        apply_patches(toy_base(), [second, first])

    assert user_error(excinfo) == (
        'patch s.mbox#2 ("toy: halve the atom and reset it") does not apply: mm/percpu.c '
        "hunk 1 (@@ -18,7 +18,7 @@): the hunk's context is not in the base: rebase the "
        "patch or pick the base it was made against"
    )


def test_touched_paths_lists_each_path_once_in_order() -> None:
    patches = parse_patch_series(fixture_bytes("series-with-cover.mbox"), "s.mbox")

    assert touched_paths(patches) == [PERCPU_H, PERCPU_C]


def test_folded_subject_is_unfolded_and_untagged() -> None:
    text = (
        "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n"
        "From: Fixture\n"
        "  <fixture@example.invalid>\n"
        "Subject: [PATCH v2 3/7] toy: a subject long enough\n"
        " to be folded\n"
        "\n"
        "---\n"
        "--- a/f.c\n+++ b/f.c\n@@ -1 +1 @@\n-a\n+b\n"
    )

    assert parse_one(text).subject == "toy: a subject long enough to be folded"


def test_git_show_output_takes_its_subject_from_the_message() -> None:
    text = (
        "commit 0123456789abcdef0123456789abcdef01234567\n"
        "Author: Fixture <fixture@example.invalid>\n"
        "Date:   Fri Feb 20 12:00:00 2009 +0000\n\n"
        "    toy: make the unit size explicit\n\n    Body text.\n\n"
        "diff --git a/f.c b/f.c\n--- a/f.c\n+++ b/f.c\n@@ -1 +1 @@\n-a\n+b\n"
    )

    assert parse_one(text).subject == "toy: make the unit size explicit"


def test_subject_of_a_patch_file(tmp_path: Path) -> None:
    """What a run looks declared changes up by: the first message's subject."""
    assert subject_of(FIXTURES / "0001-toy-track-the-atom-size.patch") == \
        "toy: track the atom size"
    assert subject_of(FIXTURES / "message-only.patch") == "toy: a commit message with no diff"
    # A series: its cover letter.
    assert subject_of(FIXTURES / "series-with-cover.mbox") == "*** SUBJECT HERE ***"
    assert subject_of(FIXTURES / "plain-diff-u.diff") == ""
    assert subject_of(tmp_path / "missing.patch") == ""


# --- truncated input -------------------------------------------------------


def test_patch_cut_mid_line_applies_intact_part_and_reports_loss() -> None:
    (patch,) = parse_patch_series(fixture_bytes("truncated-midline.patch"), "t.patch")

    assert patch.truncated
    assert not fixture_text("truncated-midline.patch").endswith("\n")
    result, losses = apply_patches(toy_base(), [patch])

    # Only trailing context was lost, so the text is what the whole patch makes.
    assert result[PERCPU_C] == fixture_text("toy-v1-percpu.c")
    assert result[PERCPU_H] == fixture_text("toy-v1-percpu.h")
    assert losses == [PatchLoss(PERCPU_C, 3, "@@ -26,8 +28,8 @@", 3, 3)]
    assert losses[0].describe() == (
        "mm/percpu.c hunk 3 (@@ -26,8 +28,8 @@): input ends inside the hunk; "
        "3 of 8 old lines and 3 of 8 new lines missing; the intact 5 lines were applied"
    )


def test_cut_line_confirmed_by_the_base_is_kept() -> None:
    # Cut exactly before the newline: the line is whole, only its '\n' is gone.
    result, losses = apply_cut("\treturn off;\n", len("\treturn off;"))

    assert result[PERCPU_C] == fixture_text("toy-v1-percpu.c")
    assert losses == [PatchLoss(PERCPU_C, 3, "@@ -26,8 +28,8 @@", 2, 2)]


def test_cut_before_the_last_newline_still_reports_the_damage() -> None:
    # The hunk's final context line (" ") lost only its newline: the hunk is
    # whole, but the file was cut, so later hunks or files may be missing.
    result, losses = apply_cut(" }\n \n-- \n", len(" }\n "))

    assert result[PERCPU_C] == fixture_text("toy-v1-percpu.c")
    assert losses == [PatchLoss(PERCPU_C, 3, "@@ -26,8 +28,8 @@", 0, 0)]
    assert losses[0].describe() == (
        "mm/percpu.c hunk 3 (@@ -26,8 +28,8 @@): input ends inside the hunk's last line, "
        "which matches the base, so the whole hunk was applied; whatever the patch had after "
        "it is lost"
    )


def test_cut_after_a_whole_line_loses_only_the_rest() -> None:
    result, losses = apply_cut("\treturn off;\n", len("\treturn off;\n"))

    assert result[PERCPU_C] == fixture_text("toy-v1-percpu.c")
    assert losses == [PatchLoss(PERCPU_C, 3, "@@ -26,8 +28,8 @@", 2, 2)]


def test_cut_inside_an_added_line_drops_it() -> None:
    result, losses = apply_cut("+\t\treturn -2;\n", len("+\t\treturn -"))

    expected = fixture_text("toy-v1-percpu.c").replace(
        "!toy_atom_size)\n\t\treturn -2;\n", "!toy_atom_size)\n"
    )
    assert result[PERCPU_C] == expected
    assert losses == [PatchLoss(PERCPU_C, 3, "@@ -26,8 +28,8 @@", 3, 4)]
    assert losses[0].describe().endswith("the intact 5 old and 4 new lines were applied")


def test_whole_removed_line_without_newline_is_kept() -> None:
    result, losses = apply_cut("-\tif (cpu >= toy_nr_units)\n", len("-\tif (cpu >= toy_nr_units)"))

    expected = fixture_text("toy-v1-percpu.c").replace(
        "\tif (cpu >= toy_nr_units || !toy_atom_size)\n\t\treturn -2;\n", "\t\treturn -1;\n"
    )
    assert result[PERCPU_C] == expected
    assert losses == [PatchLoss(PERCPU_C, 3, "@@ -26,8 +28,8 @@", 4, 5)]


def test_partial_removed_line_is_not_applied() -> None:
    result, losses = apply_cut("-\tif (cpu >= toy_nr_units)\n", len("-\tif (cpu >= toy_nr"))

    expected = fixture_text("toy-v1-percpu.c").replace(
        "\tif (cpu >= toy_nr_units || !toy_atom_size)\n\t\treturn -2;\n",
        "\tif (cpu >= toy_nr_units)\n\t\treturn -1;\n",
    )
    assert result[PERCPU_C] == expected
    assert losses == [PatchLoss(PERCPU_C, 3, "@@ -26,8 +28,8 @@", 5, 5)]


def test_cut_right_after_a_hunk_header_loses_the_whole_hunk() -> None:
    header = "@@ -26,8 +28,8 @@ int toy_unit_offset(int cpu)\n"
    _result, losses = apply_cut(header, len(header))

    assert losses == [PatchLoss(PERCPU_C, 3, "@@ -26,8 +28,8 @@", 8, 8)]
    assert losses[0].describe().endswith("nothing of it was applied")


def test_cut_inside_a_hunk_header_reports_nothing_for_it() -> None:
    patch = parse_one(cut_patch("@@ -26,8 +28,8 @@", len("@@ -26,8 +2")))

    assert len(patch.files[1].hunks) == 2
    result, losses = apply_patches(toy_base(), [patch])
    assert losses == []
    assert "toy_atom_size = TOY_PAGE_SIZE;" in str(result[PERCPU_C])
    assert "|| !toy_atom_size" not in str(result[PERCPU_C])


def test_cut_inside_a_file_header_drops_that_file() -> None:
    patch = parse_one(cut_patch("+++ b/mm/percpu.c", len("+++ b/mm/per")))

    assert [fd.path for fd in patch.files] == [PERCPU_H]
    result, losses = apply_patches(toy_base(), [patch])
    assert result[PERCPU_C] == fixture_text("toy-base-percpu.c")
    assert result[PERCPU_H] == fixture_text("toy-v1-percpu.h")
    assert losses == []


def test_cut_new_file_creates_the_intact_part() -> None:
    text = "--- /dev/null\n+++ b/mm/toy.c\n@@ -0,0 +1,3 @@\n+one\n+two\n+thr"
    fd = parse_one(text).files[0]

    result, losses = apply_file_diff(None, fd)

    assert result == "one\ntwo\n"
    assert losses == [PatchLoss("mm/toy.c", 1, "@@ -0,0 +1,3 @@", 0, 1)]


# --- line endings and placement ----------------------------------------------


def test_crlf_lines_and_missing_final_newline_are_preserved() -> None:
    base = "one\r\ntwo\r\nthree"
    text = (
        "--- a/f.c\n+++ b/f.c\n@@ -1,3 +1,3 @@\n"
        " one\r\n-two\r\n+TWO\r\n three\n\\ No newline at end of file\n"
    )

    result, losses = apply_file_diff(base, parse_one(text).files[0])

    assert result == "one\r\nTWO\r\nthree"
    assert losses == []


def test_adding_a_final_newline() -> None:
    text = "--- a/f.c\n+++ b/f.c\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"

    result, _ = apply_file_diff("a\nb", parse_one(text).files[0])

    assert result == "a\nb\n"


def test_form_feed_and_carriage_return_are_line_content() -> None:
    assert split_lines("a\fb\rc\nd") == ["a\fb\rc\n", "d"]
    assert split_lines("") == []


def test_empty_context_line_stripped_by_a_mailer_still_matches() -> None:
    text = "--- a/f.c\n+++ b/f.c\n@@ -1,3 +1,3 @@\n a\n\n-c\n+C\n"

    result, _ = apply_file_diff("a\n\nc\n", parse_one(text).files[0])

    assert result == "a\n\nC\n"


def test_hunks_follow_the_offset_of_earlier_hunks() -> None:
    base = "".join(f"line {n}\n" for n in range(1, 41))
    shifted = "extra 1\nextra 2\nextra 3\n" + base
    text = (
        "--- a/f.c\n+++ b/f.c\n"
        "@@ -4,3 +4,3 @@\n line 4\n-line 5\n+LINE 5\n line 6\n"
        "@@ -30,3 +30,3 @@\n line 30\n-line 31\n+LINE 31\n line 32\n"
    )

    result, _ = apply_file_diff(shifted, parse_one(text).files[0])

    assert result == shifted.replace("line 5\n", "LINE 5\n").replace("line 31\n", "LINE 31\n")


def test_nearest_match_wins_when_context_repeats() -> None:
    base = "x\ny\nx\ny\nx\ny\n"
    text = "--- a/f.c\n+++ b/f.c\n@@ -3,3 +3,3 @@\n x\n-y\n+Y\n x\n"

    result, _ = apply_file_diff("a\n" + base, parse_one(text).files[0])

    # Line 3 is one off from both x-y-x; git tries the later line first.
    assert result == "a\nx\ny\nx\nY\nx\ny\n"


def test_a_hunk_without_trailing_context_goes_to_the_end_as_in_git() -> None:
    base = "x\ny\nx\ny\nx\ny\n"
    text = "--- a/f.c\n+++ b/f.c\n@@ -4,1 +4,1 @@\n-y\n+Y\n"

    result, _ = apply_file_diff(base, parse_one(text).files[0])

    # git apply: "Hunk #1 succeeded at 6 (offset 2 lines)".
    assert result == "x\ny\nx\ny\nx\nY\n"


def test_hunks_may_not_overlap_or_go_backwards() -> None:
    base = "a\nb\nc\nd\n"
    text = "--- a/f.c\n+++ b/f.c\n@@ -3,1 +3,1 @@\n-c\n+C\n@@ -1,1 +1,1 @@\n-a\n+A\n"

    with pytest.raises(UserError) as excinfo:
        apply_file_diff(base, parse_one(text).files[0], patch_name="p.patch")

    assert "p.patch does not apply: f.c hunk 2 (@@ -1,1 +1,1 @@)" in user_error(excinfo)


def test_no_fuzz_whitespace_difference_does_not_apply() -> None:
    text = "--- a/f.c\n+++ b/f.c\n@@ -1 +1 @@\n-int a;\n+int b;\n"

    with pytest.raises(UserError):
        apply_file_diff("int  a;\n", parse_one(text).files[0])


# --- creating and deleting files ---------------------------------------------


def test_create_and_delete_files() -> None:
    text = (
        "diff --git a/mm/new.c b/mm/new.c\nnew file mode 100644\nindex 0000000..1111111\n"
        "--- /dev/null\n+++ b/mm/new.c\n@@ -0,0 +1,2 @@\n+int new;\n+int newer;\n"
        "diff --git a/mm/old.c b/mm/old.c\ndeleted file mode 100644\nindex 2222222..0000000\n"
        "--- a/mm/old.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-int old;\n"
        "diff --git a/mm/empty.c b/mm/empty.c\nnew file mode 100644\nindex 0000000..e69de29\n"
    )
    patch = parse_one(text)

    assert [(fd.old_path, fd.new_path) for fd in patch.files] == [
        (None, "mm/new.c"),
        ("mm/old.c", None),
        (None, "mm/empty.c"),
    ]
    base: dict[str, str | None] = {"mm/new.c": None, "mm/old.c": "int old;\n", "mm/empty.c": None}
    result, _ = apply_patches(base, [patch])
    assert result == {"mm/new.c": "int new;\nint newer;\n", "mm/old.c": None, "mm/empty.c": ""}


def test_creating_an_existing_file_is_refused() -> None:
    fd = FileDiff(None, "mm/percpu.c", ())

    with pytest.raises(UserError) as excinfo:
        apply_file_diff("int x;\n", fd, patch_name="p.patch")

    assert "creates mm/percpu.c, which already exists at the base" in user_error(excinfo)


def test_changing_a_missing_file_is_refused() -> None:
    text = "--- a/mm/gone.c\n+++ b/mm/gone.c\n@@ -1 +1 @@\n-a\n+b\n"

    with pytest.raises(UserError) as excinfo:
        apply_file_diff(None, parse_one(text).files[0], patch_name="p.patch")

    assert "changes mm/gone.c, which does not exist at the base" in user_error(excinfo)


def test_deleting_with_leftover_lines_is_refused() -> None:
    text = "--- a/f.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n"

    with pytest.raises(UserError) as excinfo:
        apply_file_diff("a\nb\n", parse_one(text).files[0])

    assert "deletes f.c, but the base has lines the patch does not remove" in user_error(excinfo)


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "escape-dotdot.patch",
            "patch path '../etc/passwd' in escape-dotdot.patch escapes the source tree: "
            "patches must use paths inside the kernel tree",
        ),
        (
            "escape-absolute.patch",
            "patch path '/etc/passwd' in escape-absolute.patch escapes the source tree: "
            "patches must use paths inside the kernel tree",
        ),
        (
            "binary-nul.patch",
            "binary-nul.patch is not a text patch (binary data at byte 375): "
            "pass a unified diff or git format-patch mbox",
        ),
        (
            "not-utf8.patch",
            "not-utf8.patch is not a text patch (binary data at byte 81): "
            "pass a unified diff or git format-patch mbox",
        ),
        (
            "empty.patch",
            "empty.patch contains no diff: pass a unified diff (diff -u, git diff) "
            "or git format-patch output",
        ),
        (
            "message-only.patch",
            "message-only.patch contains no diff: pass a unified diff (diff -u, git diff) "
            "or git format-patch output",
        ),
        (
            "git-binary.patch",
            "patch git-binary.patch contains a binary diff at line 4, which percpu-diff "
            "cannot apply: drop the binary change from the patch",
        ),
        (
            "rename.patch",
            "patch rename.patch renames or copies a file (rename from mm/percpu.c), which "
            "percpu-diff does not support: regenerate it with 'git format-patch --no-renames'",
        ),
    ],
)
def test_bad_patch_files_are_refused(name: str, expected: str) -> None:
    with pytest.raises(UserError) as excinfo:
        parse_patch_series(fixture_bytes(name), name)

    assert user_error(excinfo) == expected


def test_patch_that_does_not_match_the_base() -> None:
    patches = parse_patch_series(fixture_bytes("does-not-apply.patch"), "does-not-apply.patch")

    with pytest.raises(UserError) as excinfo:
        apply_patches(toy_base(), patches)

    assert user_error(excinfo) == (
        "patch does-not-apply.patch does not apply: mm/percpu.c hunk 1 (@@ -26,8 +26,8 @@): "
        "the hunk's context is not in the base: rebase the patch or pick the base it was made "
        "against"
    )


def test_nul_hidden_in_a_quoted_path_is_refused() -> None:
    text = 'diff --git "a/mm/x\\000y" "b/mm/x\\000y"\n--- "a/mm/x\\000y"\n+++ "b/mm/x\\000y"\n'

    with pytest.raises(UserError) as excinfo:
        parse_patch_series(text.encode(), "q.patch")

    assert "escapes the source tree" in user_error(excinfo)


def test_quoted_utf8_path_is_unquoted() -> None:
    text = '--- "a/mm/caf\\303\\251.c"\n+++ "b/mm/caf\\303\\251.c"\n@@ -1 +1 @@\n-a\n+b\n'

    assert parse_one(text).files[0].path == "mm/caf\u00e9.c"


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("a/mm/../../x", "escapes the source tree"),
        ("a//etc/passwd", "escapes the source tree"),
        ("percpu.c", "has no a/ prefix"),
        ("a/./", "names no file"),
    ],
)
def test_strip_path_refuses_paths_outside_the_tree(path: str, fragment: str) -> None:
    with pytest.raises(UserError) as excinfo:
        strip_path(path, "p.patch")

    assert fragment in user_error(excinfo)


def test_strip_path_normalises_harmless_components() -> None:
    assert strip_path("a/./mm//percpu.c", "p.patch") == "mm/percpu.c"
    assert strip_path("linux-2.6.30.orig/mm/percpu.c", "p.patch") == "mm/percpu.c"


def test_short_hunk_before_the_next_file_is_malformed_not_truncated() -> None:
    text = (
        "--- a/f.c\n+++ b/f.c\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n"
        "diff --git a/g.c b/g.c\n--- a/g.c\n+++ b/g.c\n@@ -1 +1 @@\n-x\n+y\n"
    )

    with pytest.raises(UserError) as excinfo:
        parse_patch_series(text.encode(), "m.patch")

    assert user_error(excinfo).startswith(
        "patch m.patch is malformed at line 7: f.c hunk 1 (@@ -1,3 +1,3 @@) ends after 2 of 3 old"
    )


def test_hunk_longer_than_its_header_is_malformed() -> None:
    text = "--- a/f.c\n+++ b/f.c\n@@ -1,1 +1,2 @@\n-a\n-b\n+A\n"

    with pytest.raises(UserError) as excinfo:
        parse_patch_series(text.encode(), "m.patch")

    assert "has more lines than its header counts" in user_error(excinfo)


def test_short_hunk_before_the_signature_is_malformed() -> None:
    # The signature proves the input was not cut, so a short hunk is an error.
    text = fixture_text(FORMAT_PATCH).replace(" }\n \n-- \n", " }\n-- \n")

    with pytest.raises(UserError) as excinfo:
        parse_patch_series(text.encode(), "s.patch")

    assert "is malformed" in user_error(excinfo)


def test_patch_loss_describe_for_a_single_line_hunk_header() -> None:
    loss = PatchLoss("f.c", 1, "@@ -7 +7 @@", 1, 0)

    assert loss.describe() == (
        "f.c hunk 1 (@@ -7 +7 @@): input ends inside the hunk; 1 of 1 old lines and "
        "0 of 1 new lines missing; the intact 0 old and 1 new lines were applied"
    )
