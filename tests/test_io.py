import os

import pytest

from helpers.io import atomic_folder, corpus_name


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_folder_replaces_an_existing_folder_whole(tmp_path):
    target = tmp_path / "model"
    with atomic_folder(target) as tmp:
        (tmp / "old-only.txt").write_text("v1")
        (tmp / "weights.txt").write_text("v1")
    with atomic_folder(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target and listing(tmp) == []
        assert listing(target) == ["old-only.txt", "weights.txt"]  # the old folder serves until the rename
        (tmp / "weights.txt").write_text("v2")
    assert listing(target) == ["weights.txt"] and (target / "weights.txt").read_text() == "v2"
    assert listing(tmp_path) == ["model"]  # neither the temporary nor the old folder is left behind


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_folder_leaves_nothing_behind_on_error(tmp_path, error):
    target = tmp_path / "model"
    with atomic_folder(target) as tmp:
        (tmp / "weights.txt").write_text("v1")
    with pytest.raises(error):
        with atomic_folder(target) as tmp:
            (tmp / "weights.txt").write_text("half of v2")
            raise error
    assert listing(tmp_path) == ["model"] and (target / "weights.txt").read_text() == "v1"
    with pytest.raises(error):
        with atomic_folder(tmp_path / "new") as tmp:
            raise error
    assert listing(tmp_path) == ["model"]  # a failed first write leaves no folder at all


def test_atomic_folder_without_replace_refuses_an_existing_folder(tmp_path):
    target = tmp_path / "v0001"
    with atomic_folder(target, replace=False) as tmp:
        (tmp / "release.json").write_text("{}")
    with pytest.raises(FileExistsError, match="v0001"):
        with atomic_folder(target, replace=False):
            pytest.fail("the block must not run")
    with pytest.raises(FileExistsError):
        with atomic_folder(tmp_path / "v0002", replace=False) as tmp:
            (tmp_path / "v0002").mkdir()  # another writer got there first
    assert listing(tmp_path) == ["v0001", "v0002"] and listing(tmp_path / "v0002") == []


def test_atomic_folder_refuses_to_replace_a_file(tmp_path):
    (tmp_path / "model").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="is a file"):
        with atomic_folder(tmp_path / "model"):
            pytest.fail("the block must not run")
    with pytest.raises(OSError):
        with atomic_folder(tmp_path / "late") as tmp:
            (tmp / "x").write_text("x")
            (tmp_path / "late").write_text("a file appeared while the block ran")
    assert listing(tmp_path) == ["late", "model"] and (tmp_path / "model").read_text() == "not a folder"


def test_atomic_folder_creates_missing_parents(tmp_path):
    with atomic_folder(tmp_path / "a" / "b" / "model") as tmp:
        (tmp / "x").write_text("x")
    assert (tmp_path / "a" / "b" / "model" / "x").exists()


def test_corpus_name_is_the_folder_with_its_parent(tmp_path):
    folder = tmp_path / "git-docs" / "docs"
    folder.mkdir(parents=True)
    assert corpus_name(folder) == "git-docs/docs"
    assert corpus_name(os.path.relpath(folder)) == "git-docs/docs"  # relative paths are resolved first
