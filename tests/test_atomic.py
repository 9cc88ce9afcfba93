"""jaxnet._atomic: atomic replacement is for regular files and new paths only (issue 25, 1).

A device, FIFO, socket or directory is refused before anything is written (as root too, who
could rename over anything); a symlink to a regular file is written through, the link kept;
this process's own stdout is written directly; and a place that cannot be written is found
by ``check_writable`` before a long computation, not after it.
"""

import os
import socket
import stat

import numpy as np
import pytest
from helpers import run_cli

import jaxnet as jn
from jaxnet import _atomic, checkpoint


def _fill(f):
    f.write(b"new content\n")


@pytest.fixture
def model(tmp_path):
    """A tiny saved classifier (2 features) for `jaxnet predict`."""
    net = jn.MLP((2, 2))
    params = [{k: np.asarray(v) for k, v in jn.init(net, 0)[0].items()}]
    path = tmp_path / "m.jaxnet"
    jn.save(path, net, params, labels=["a", "b"])
    return path


@pytest.fixture
def char_device(tmp_path):
    """A copy of /dev/full made with mknod: a character device that is not precious."""
    if os.geteuid() != 0:
        pytest.skip("mknod of a character device needs root")
    path = tmp_path / "full"
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    return path


def _fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_a_character_device_is_refused_and_stays_a_device(tmp_path, model, char_device, capsys):
    rc, out = run_cli(["predict", str(model), "--input", "1,2", "--out", str(char_device)])
    assert rc == 2 and "wrote" not in out
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a character device, not a regular file" in err
    assert stat.S_ISCHR(os.stat(char_device).st_mode)  # not replaced by a regular file
    with pytest.raises(ValueError, match="character device"):
        _atomic.write(char_device, _fill)
    assert stat.S_ISCHR(os.stat(char_device).st_mode)


def test_fifos_sockets_and_directories_are_refused_untouched(tmp_path):
    fifo = _fifo(tmp_path)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        for path, what in ((fifo, "FIFO"), (tmp_path / "sock", "socket")):
            with pytest.raises(ValueError, match=f"cannot write .*: it is a {what}"):
                _atomic.write(path, _fill)
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
        assert stat.S_ISSOCK(os.stat(tmp_path / "sock").st_mode)
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="it is a directory"):
        _atomic.write(folder, _fill)
    assert folder.is_dir() and not list(folder.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "pipe", "sock"]  # no temps


def test_a_symlink_to_a_regular_file_is_written_through_and_stays_a_link(tmp_path):
    target = tmp_path / "real" / "data.bin"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    assert _atomic.write(link, _fill) == link
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"new content\n"
    chain = tmp_path / "chain.bin"  # a link to a link
    chain.symlink_to(link)
    _atomic.write(chain, lambda f: f.write(b"third"))
    assert chain.is_symlink() and link.is_symlink() and target.read_bytes() == b"third"


def test_a_dangling_symlink_is_refused_and_nothing_is_created(tmp_path):
    link = tmp_path / "out.csv"
    link.symlink_to(tmp_path / "missing" / "file.csv")
    with pytest.raises(FileNotFoundError, match="symlink to .*which does not exist"):
        _atomic.write(link, _fill)
    assert link.is_symlink() and not (tmp_path / "missing").exists()


def test_a_checkpoint_through_a_symlink_loads_from_the_link(tmp_path):
    net = jn.MLP((2, 1))
    params = [{k: np.asarray(v) for k, v in jn.init(net, 0)[0].items()}]
    real = tmp_path / "real.jaxnet"
    real.write_bytes(b"an older file")
    link = tmp_path / "latest.jaxnet"
    link.symlink_to(real)
    checkpoint.save(link, net, params)
    assert link.is_symlink()
    np.testing.assert_array_equal(checkpoint.load(link).params[0]["w"], params[0]["w"])


def test_out_naming_this_process_stdout_is_written_there_directly(tmp_path, model, capfd):
    link = tmp_path / "to-stdout.csv"
    link.symlink_to("/proc/self/fd/1")
    assert run_cli(["predict", str(model), "--input", "1,2", "--out", str(link)])[0] == 0
    out = capfd.readouterr().out
    assert out.startswith("class,p_a,p_b\n")  # the CSV reached stdout
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"  # the link is kept


def test_check_writable_answers_before_the_work(tmp_path, char_device):
    assert _atomic.check_writable(tmp_path / "new" / "deeper" / "m.jaxnet").name == "m.jaxnet"
    assert not (tmp_path / "new").exists()  # checking creates nothing it leaves behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]
    with pytest.raises(ValueError, match="character device"):
        _atomic.check_writable(char_device)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        _atomic.check_writable(blocker / "m.jaxnet")


def test_train_refuses_an_unwritable_out_before_training(tmp_path, capsys):
    fifo = _fifo(tmp_path)
    rc, out = run_cli(["train", "--dataset", "xor", "--steps", "5", "--out", str(fifo)])
    assert rc == 2 and out == ""  # refused before the data and net lines, before any step
    assert "FIFO" in capsys.readouterr().err
    rc, out = run_cli(["tutorial", "--steps", "5", "--out", str(tmp_path)])
    assert rc == 2 and out == "" and "is a directory" in capsys.readouterr().err
    png_blocker = tmp_path / "m.loss.png"  # the loss curve beside --out is checked too
    png_blocker.mkdir()
    rc, out = run_cli(
        ["train", "--dataset", "xor", "--steps", "5", "--out", str(tmp_path / "m.jaxnet")]
    )
    assert rc == 2 and out == "" and not (tmp_path / "m.jaxnet").exists()
    assert "m.loss.png: it is a directory" in capsys.readouterr().err
