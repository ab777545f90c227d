"""link_file: what a compose gets when the source is a symlink (the build service's task
directories hold symlinks to moved output)."""

import os

import pytest

from pungi_like.fileutil import link_file


@pytest.fixture
def linked_source(tmp_path):
    real = tmp_path / "scratch" / "image.iso"
    real.parent.mkdir()
    real.write_bytes(b"image bytes")
    task = tmp_path / "tasks" / "image.iso"
    task.parent.mkdir()
    task.symlink_to(real)
    return real, task


@pytest.mark.parametrize("link_type", ["hardlink-or-copy", "hardlink", "copy"])
def test_a_symlink_source_gives_a_regular_file_that_outlives_its_target(tmp_path, linked_source,
                                                                        link_type):
    real, task = linked_source
    dst = tmp_path / "compose" / "image.iso"
    link_file(str(task), str(dst), link_type)
    assert dst.is_file() and not dst.is_symlink()
    real.unlink()
    assert dst.read_bytes() == b"image bytes"


def test_linking_a_file_onto_itself_through_a_symlink_keeps_it(tmp_path, linked_source):
    real, task = linked_source
    link_file(str(task), str(real))
    assert real.read_bytes() == b"image bytes"


def test_a_dangling_source_is_a_clear_error(tmp_path, linked_source):
    real, task = linked_source
    real.unlink()
    with pytest.raises(FileNotFoundError, match="cannot link .*image.iso: it is not a file"):
        link_file(str(task), str(tmp_path / "out" / "image.iso"))


def test_an_unknown_link_type_is_refused_before_touching_anything(tmp_path, linked_source):
    real, _task = linked_source
    dst = tmp_path / "keep"
    dst.write_text("kept")
    with pytest.raises(ValueError, match="unknown link_type 'softlink'"):
        link_file(str(real), str(dst), "softlink")
    assert dst.read_text() == "kept"
