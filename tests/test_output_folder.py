"""The output folder is replaced as a whole: a run that fails or is killed at any moment
leaves the old set of files or the new one, never a mix.

Two runs with different counts make two different sets (A, then B into the same folder).
Failures are injected at each step of the replacement, and real processes are killed at
moments spread over a run; after each, the folder must hold exactly set A or set B,
byte for byte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geozones import outfolder, outputs, pipeline, runfiles
from geozones.config import RunConfig
from geozones.errors import OutputError


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry of ``folder`` (recursively) with the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def two_sets(small_case):
    """Set A (the small case's counts) in ``out``, and set B (other counts) made in ``ref``."""
    c = small_case
    counts_b = c["tmp"] / "counts_b.csv"
    lines = c["counts"].read_text().splitlines()
    counts_b.write_text("\n".join([lines[0]] + [",".join(r.split(",")[:3] + [str(int(r.split(",")[3]) * 3)] + r.split(",")[4:]) for r in lines[1:]]) + "\n")
    base = RunConfig(zones=[str(c["zones"])], cells=str(c["cells"]), counts=str(c["counts"]), out=str(c["tmp"] / "out"),
                     market_share=str(c["shares"]), map=False, engine="memory")
    out = Path(base.out)
    pipeline.run(dataclasses.replace(base))
    (out / "notes.txt").write_text("the analyst's own file, kept\n")
    a = snapshot(out)
    pipeline.run(dataclasses.replace(base, counts=str(counts_b), out=str(c["tmp"] / "ref")))
    ref = c["tmp"] / "ref"
    (ref / "notes.txt").write_text("the analyst's own file, kept\n")
    b = snapshot(ref)
    assert a != b and a.keys() == b.keys()
    keep = c["tmp"] / "a_copy"
    shutil.copytree(out, keep)
    return {"base": base, "out": out, "counts_b": counts_b, "a": a, "b": b, "a_copy": keep}


def restore(s) -> None:
    shutil.rmtree(s["out"])
    shutil.copytree(s["a_copy"], s["out"])


def leftovers(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.geozones-*"))


def test_a_second_run_replaces_the_set_and_keeps_other_files(two_sets):
    s = two_sets
    pipeline.run(dataclasses.replace(s["base"], counts=str(s["counts_b"])))
    assert snapshot(s["out"]) == s["b"] and not leftovers(s["out"])


@pytest.mark.parametrize("where", ["after the files", "before the swap", "fallback: between the two renames"])
def test_a_failure_at_each_step_leaves_the_old_set(two_sets, monkeypatch, where):
    s = two_sets

    def boom(*args, **kwargs):
        raise RuntimeError("injected")

    if where == "after the files":
        monkeypatch.setattr(runfiles, "_before_replace", boom)
    elif where == "before the swap":
        monkeypatch.setattr(outfolder, "_exchange", boom)
    else:  # a file system that cannot swap: out is moved aside, then the new folder fails to move in
        monkeypatch.setattr(outfolder, "_exchange", lambda a, b: False)
        real = os.rename
        calls = []

        def rename(src, dst):
            calls.append(src)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
            return real(src, dst)

        monkeypatch.setattr(outfolder.os, "rename", rename)
    with pytest.raises((RuntimeError, OSError)):
        pipeline.run(dataclasses.replace(s["base"], counts=str(s["counts_b"])))
    assert snapshot(s["out"]) == s["a"] and not leftovers(s["out"])


def test_on_a_file_system_that_cannot_swap_two_renames_give_the_new_set(two_sets, monkeypatch):
    s = two_sets
    monkeypatch.setattr(outfolder, "_exchange", lambda a, b: False)
    pipeline.run(dataclasses.replace(s["base"], counts=str(s["counts_b"])))
    assert snapshot(s["out"]) == s["b"] and not leftovers(s["out"])


@pytest.mark.slow
def test_a_run_killed_at_any_moment_leaves_the_old_set_or_the_new_one(two_sets):
    """SIGKILL real processes at moments spread over a run (from its measured length)."""
    s = two_sets
    b = s["base"]
    args = [sys.executable, "-m", "geozones", "-q", "apportion", "--zones", *b.zones, "--cells", b.cells, "--counts", str(s["counts_b"]),
            "--market-share", b.market_share, "--no-map", "--engine", "memory", "--out", str(s["out"])]
    lengths = []
    for _ in range(2):  # (the first run may be slower: caches, compiled kernels; the kills time the warm one)
        t0 = time.perf_counter()
        assert subprocess.run(args, capture_output=True).returncode == 0
        lengths.append(time.perf_counter() - t0)
    length = min(lengths)
    assert snapshot(s["out"]) == s["b"]
    seen, killed = set(), 0
    for share in (0.3, 0.45, 0.6, 0.7, 0.78, 0.85, 0.9, 0.93, 0.96, 0.98):
        restore(s)
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(share * length)
        if proc.poll() is None:  # (still running: the kill lands inside the run)
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
        state = snapshot(s["out"])
        assert state in (s["a"], s["b"]), f"a mix after a kill at {share:.0%} of the run"
        seen.add("a" if state == s["a"] else "b")
    assert killed >= 5, f"only {killed} kills landed inside a run of {length:.2f} s"
    assert "a" in seen  # (killed before the swap at least once)
    # the next run removes what killed runs left beside the folder
    assert subprocess.run(args, capture_output=True).returncode == 0
    assert snapshot(s["out"]) == s["b"] and not leftovers(s["out"])


def _stopped(s: dict, script: Path, then: str = "") -> subprocess.CompletedProcess:
    """A run over the second counts whose every table write sends SIGTERM to itself (and
    ``then``: more of the script, run before main), as a process of its own."""
    b = s["base"]
    script.write_text(
        "import os, shutil, signal, sys\n"
        "from geozones import runfiles\n"
        "from geozones.cli import main\n"
        "real_write = runfiles.write_table\n"
        "def write_then_stop(*a, **k):\n"
        "    out = real_write(*a, **k)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return out\n"
        "runfiles.write_table = write_then_stop\n"
        + then +
        "if __name__ == '__main__':\n"
        "    main(sys.argv[1:])\n")
    args = [sys.executable, str(script), "-q", "apportion", "--zones", *b.zones, "--cells", b.cells, "--counts", str(s["counts_b"]),
            "--market-share", b.market_share, "--no-map", "--engine", "memory", "--out", str(s["out"])]
    return subprocess.run(args, capture_output=True, text=True)


def test_a_run_stopped_by_sigterm_leaves_the_old_set_and_nothing_beside_it(two_sets, tmp_path):
    """A scheduler stops jobs with SIGTERM: a run stopped so while writing left its
    half-made folder (.out.geozones-new-*, the new tables and no manifest) beside the
    output folder until the next run. It now stops as Ctrl-C does: exit 130, the old set."""
    s = two_sets
    r = _stopped(s, tmp_path / "stopped.py")
    assert r.returncode == 130 and "interrupted" in r.stderr, r.stderr
    assert snapshot(s["out"]) == s["a"] and not leftovers(s["out"])


def test_a_second_sigterm_while_cleaning_up_still_leaves_nothing_beside_it(two_sets, tmp_path):
    """A scheduler may send SIGTERM twice (and two threads' writes did, in the test above,
    which failed on CI once): the second one, landing in the clean-up, cut it short and left
    the half-made folder beside the output folder."""
    s = two_sets
    r = _stopped(s, tmp_path / "stopped_twice.py",
                 "real_rmtree = shutil.rmtree\n"
                 "def stopped_again(path, *a, **k):\n"
                 "    shutil.rmtree = real_rmtree\n"
                 "    os.kill(os.getpid(), signal.SIGTERM)\n"
                 "    return real_rmtree(path, *a, **k)\n"
                 "shutil.rmtree = stopped_again\n")
    assert r.returncode == 130 and "interrupted" in r.stderr, r.stderr
    assert snapshot(s["out"]) == s["a"] and not leftovers(s["out"]), r.stderr


def test_the_output_folder_keeps_its_permissions(two_sets):
    """An operator's group-shared output folder (2775) became 0700 after a run: the new
    set's folder had the temporary folder's permissions."""
    s = two_sets
    os.chmod(s["out"], 0o2775)
    pipeline.run(dataclasses.replace(s["base"], counts=str(s["counts_b"])))
    assert oct(os.stat(s["out"]).st_mode & 0o7777) == oct(0o2775)
    fresh = s["out"].parent / "fresh"
    pipeline.run(dataclasses.replace(s["base"], out=str(fresh)))
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(fresh).st_mode & 0o777 == 0o777 & ~mask


def test_an_output_folder_that_is_or_lies_in_an_input_folder_is_refused_and_nothing_is_written(small_case, tmp_path, cli):
    """A probe's `--out` equal to its zones folder wrote zones.geojson and manifest.json among
    the zone files; the next run read manifest.json as a zone file; so did an `--out` holding
    the zone file given. A folder of counts the same: its outputs became parts of the dataset."""
    c = small_case
    zones = tmp_path / "zones"
    zones.mkdir()
    shutil.copy(c["zones"], zones / "z.geojson")
    parts = tmp_path / "parts"
    parts.mkdir()
    import pandas as pd

    pd.read_csv(c["counts"], dtype={"origin": str}).to_parquet(parts / "part-0.parquet", index=False)
    before = snapshot(tmp_path)
    for args, key, words in (
        (["--zones", zones, "--counts", c["counts"], "--out", zones], "zones", "is this input folder"),
        (["--zones", zones, "--counts", c["counts"], "--out", zones / "out"], "zones", "is inside this input folder"),
        (["--zones", c["zones"], "--counts", parts, "--out", parts], "counts", "is this input folder"),
        # (a zone file in the output folder: the next run given the folder read the outputs as zones)
        (["--zones", zones / "z.geojson", "--counts", c["counts"], "--out", zones], "zones", "this zone file lies in the output folder"),
    ):
        r = cli("-q", "apportion", *args, "--cells", c["cells"], "--no-map")
        assert r.returncode == 1, r.stderr
        assert f"setting '{key}'" in r.stderr and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert snapshot(tmp_path) == before
    r = cli("-q", "apportion", "--zones", zones, "--counts", parts, "--cells", c["cells"], "--no-map", "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    # the manifest names a folder's files (a probe's listed none of its 14)
    import json

    listed = json.loads((tmp_path / "out" / "manifest.json").read_text())["inputs"]["counts"]
    assert [Path(f["path"]).name for f in listed] == ["part-0.parquet"]
    assert listed[0]["sha256"] == hashlib.sha256((parts / "part-0.parquet").read_bytes()).hexdigest()


def test_a_single_file_output_never_replaces_a_device_a_pipe_or_a_link(tmp_path):
    """A probe's 'geozones coverage --out /dev/full', run as root, replaced the device with a
    GeoJSON file (the output is renamed over its path), and a FIFO too; a link is replaced,
    its target left alone."""
    from geozones._io import write_text_atomic
    from geozones.errors import OutputError

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="is a pipe, not a file"):
        write_text_atomic(fifo, "x")
    assert fifo.exists() and not fifo.is_file()
    import socket

    sock_path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as sock:  # (a socket file: a device's kind, made without privileges)
        sock.bind(str(sock_path))
        with pytest.raises(OutputError, match="is a device or socket"):
            write_text_atomic(sock_path, "x")
        assert sock_path.exists() and not sock_path.is_file()
    with pytest.raises(OutputError, match="is a folder"):
        write_text_atomic(tmp_path, "x")
    link = tmp_path / "link.geojson"  # (a link is replaced, not followed: docs/bad_input.md)
    link.symlink_to(fifo)
    write_text_atomic(link, "{}")
    assert not link.is_symlink() and link.read_text() == "{}" and fifo.exists() and not fifo.is_file()


def test_an_input_changed_during_the_run_is_refused_before_anything_is_written(small_case, tmp_path, monkeypatch):
    """A probe appended a day to the counts while a run read them: the manifest gave the
    SHA-256 of the longer file beside figures made from the shorter one."""
    import geozones.pipeline as pl

    from .conftest import run_cli

    c = small_case
    real = pl.read_counts

    def read_then_grow(path):
        read = real(path)
        with open(path, "a") as fh:
            fh.write("B,2026-07-02T00:00,1h,100,34022\n")
        return read

    monkeypatch.setattr(pl, "read_counts", read_then_grow)
    out = tmp_path / "out"
    r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--heat-grid", "0", "--out", out)
    assert r.returncode == 1 and "counts.csv: changed while the run read it: nothing was written" in r.stderr, r.stderr
    assert not out.exists()


def test_the_manifest_says_what_made_the_figures(small_case, tmp_path):
    """A probe: the manifest said '0.1.0' and no library version, and a memory run did not
    say its engine."""
    import json

    from .conftest import run_cli

    c = small_case
    r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--heat-grid", "0",
                "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert m["counts"]["engine"] == "memory"
    assert {"python", "numpy", "pandas", "shapely", "pyproj", "highspy"} <= set(m["library_versions"])
    assert all(f["sha256"] and Path(f["absolute"]).is_absolute() for files in m["inputs"].values() for f in files)


def test_an_output_folder_holding_a_mount_or_the_shells_folder_is_refused_at_once(small_case, tmp_path, monkeypatch):
    """A probe's run emptied a volume mounted inside --out (the old folder is removed after
    the swap, down into the volume) and exited 0; '--out .' left the shell in a removed
    folder. Both are refused before any work."""

    from .conftest import run_cli

    c = small_case
    out = tmp_path / "out"
    (out / "archive").mkdir(parents=True)
    (out / "archive" / "2025.csv").write_text("kept\n")
    args = ("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--heat-grid", "0")
    monkeypatch.setattr(outfolder, "_mount_points", lambda: [Path("/"), out / "archive"])
    r = run_cli(*args, "--out", out)
    assert r.returncode == 1 and "holds a mounted file system" in r.stderr and str(out / "archive") in r.stderr, r.stderr
    assert (out / "archive" / "2025.csv").read_text() == "kept\n" and not (out / "manifest.json").exists()
    monkeypatch.setattr(outfolder, "_mount_points", lambda: [Path("/")])
    r = run_cli(*args, "--out", ".", cwd=out / "archive")
    assert r.returncode == 1 and "is the folder this command runs in" in r.stderr, r.stderr
    r = run_cli(*args, "--out", out)
    assert r.returncode == 0 and (out / "archive" / "2025.csv").read_text() == "kept\n", r.stderr


def test_run_takes_out_from_the_command_line_when_the_config_has_none(small_case, tmp_path):
    """A probe: 'geozones run CONFIG --out X' said "missing key 'out'" for a config without
    one, though --out is documented as the config's 'out'."""
    from .conftest import run_cli

    c = small_case
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "run.toml").write_text(f'zones = ["{c["zones"]}"]\ncells = "{c["cells"]}"\ncounts = "{c["counts"]}"\nheat_grid_m = 0\n')
    r = run_cli("-q", "run", "cfg/run.toml", "--out", "results", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "results" / "zone_counts.csv").exists() and not (cfg / "results").exists()
    r = run_cli("-q", "run", "cfg/run.toml", cwd=tmp_path)
    assert r.returncode == 1 and "missing key 'out'" in r.stderr, r.stderr


def test_the_output_folder_keeps_its_owner_and_group(small_case, tmp_path):
    """A probe's output folder owned by nobody:nogroup became root's after a run as root (the
    new folder takes the old one's place)."""
    from .conftest import run_cli

    if os.geteuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    c = small_case
    out = tmp_path / "out"
    (out / "inputs" / "zones").mkdir(parents=True)
    for d in (out, out / "inputs", out / "inputs" / "zones"):
        os.chown(d, 65534, 65534)
    r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--heat-grid", "0", "--out", out)
    assert r.returncode == 0, r.stderr
    # the folder and the folders it holds beside the outputs (the demo's inputs/: they were root's after a run)
    for d in (out, out / "inputs", out / "inputs" / "zones"):
        assert (d.stat().st_uid, d.stat().st_gid) == (65534, 65534), d


def test_a_report_left_from_the_figures_a_run_replaced_is_said(small_case, tmp_path):
    """A probe's run at k = 100 into a folder kept the report.html of its k = 30 run beside
    the new figures, without a word."""
    from .conftest import run_cli

    c = small_case
    out = tmp_path / "out"
    args = ("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--heat-grid", "0", "--out", out)
    assert run_cli("-q", *args).returncode == 0
    assert "geozones report" not in run_cli(*args).stderr
    assert run_cli("-q", "report", out).returncode == 0
    r = run_cli(*args, "--k", "100")
    assert r.returncode == 0 and "report.html in" in r.stderr and f"run 'geozones report {out}' again" in r.stderr, r.stderr
    # the folder as written ("inputs/.." in the demo's run.toml; "x/.." is written to whether x exists or not)
    r = run_cli(*args[:-1], tmp_path / "x" / ".." / "out")
    assert f"run 'geozones report {out}' again" in r.stderr, r.stderr


def test_the_demo_run_again_into_its_folder_does_not_ask_for_the_report_it_makes(tmp_path):
    """The demo makes report.html again right after its run: "report.html in OUT/inputs/.. was
    made from the figures this run replaced" was a false alarm on every second demo."""
    from .conftest import run_cli

    out = tmp_path / "demo"
    assert run_cli("-q", "demo", "--out", out, "--days", "2").returncode == 0
    r = run_cli("demo", "--out", out, "--days", "2")
    assert r.returncode == 0 and (out / "report.html").is_file(), r.stderr
    assert "replaced" not in r.stderr and "geozones report" not in r.stderr, r.stderr


def test_an_output_folder_name_too_long_for_the_new_folder_says_so(tmp_path):
    """A probe's --out of 228 characters was refused with "choose a folder whose parent you
    can write": the new folder beside it is named after it, 31 characters longer (with a PID
    of up to 7 digits); the longest name the hint allows works."""
    from geozones.errors import OutputError
    from geozones.outputs import new_folder

    most = os.pathconf(tmp_path, "PC_NAME_MAX") - 31
    with pytest.raises(OutputError, match=f"too long .* at most {most} characters"):
        new_folder(tmp_path / ("o" * 240))
    assert new_folder(tmp_path / ("o" * most)).is_dir()


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"),
                                   OSError("Error writing bytes to file. Detail: [errno 28] No space left on device"),
                                   shutil.Error([("a", "b", "[Errno 28] No space left on device: 'b'")]),
                                   "the weights file"])
def test_a_full_disk_is_said_as_a_full_disk_and_the_old_set_stays(two_sets, monkeypatch, cli, error):
    """A probe's full disk (a 2 MB tmpfs) was told to 'check the path and its permissions';
    Arrow's error carries the errno in its text only, shutil's list in its items. The line
    names the output folder, or the file in it, never the hidden new folder (it named none)."""
    s = two_sets

    def full(*args, **kwargs):
        raise error

    def full_file(weights, path):
        raise OSError(28, "No space left on device", str(path))

    if error == "the weights file":
        monkeypatch.setattr(runfiles, "write_weights", full_file)
    else:
        monkeypatch.setattr(outfolder, "_exchange", full)
    r = cli("apportion", "--zones", s["base"].zones[0], "--cells", s["base"].cells, "--counts", s["counts_b"],
            "--market-share", s["base"].market_share, "--out", s["out"], "--engine", "memory", "--no-map")
    assert r.returncode == 1 and "No space left on device" in r.stderr and "free space on the disk" in r.stderr, r.stderr
    assert "permissions" not in r.stderr and len(r.stderr.strip().splitlines()[-1]) > 0
    named = f"{s['out'].resolve()}/weights.parquet: " if error == "the weights file" else f"{s['out'].resolve()}: "
    assert named in r.stderr and "geozones-new" not in r.stderr, r.stderr
    assert snapshot(s["out"]) == s["a"] and not leftovers(s["out"])


def test_an_out_file_that_is_one_of_the_commands_inputs_is_refused_and_the_input_kept(small_case, tmp_path):
    """A probe's 'weights --out cellplan.csv', 'coverage P --out P', 'zones grid --area X --out X'
    and 'report RUN --out RUN/zone_counts.csv' each replaced what the command read, said
    'wrote' and exited 0; the next command blamed the destroyed file."""
    from .conftest import run_cli

    c = small_case
    run = tmp_path / "run"
    assert run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--model", "voronoi",
                   "--heat-grid", "0", "--out", run).returncode == 0
    cases = [("weights", "--cells", c["cells"], "--zones", c["zones"], "--model", "voronoi", "--out", c["cells"]),
             ("weights", "--cells", c["cells"], "--zones", c["zones"], "--model", "voronoi", "--out", c["zones"]),
             ("coverage", c["cells"], "--out", c["cells"]),
             ("zones", "grid", "--area", c["zones"], "--size", "500", "--out", c["zones"]),
             ("zones", "preview", "--zones", c["zones"], "--cells", c["cells"], "--out", c["cells"]),
             ("report", run, "--out", run / "zone_counts.csv")]
    for args in cases:
        target = Path(args[-1])
        before = target.read_bytes()
        r = run_cli(*args)
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "--out is" in r.stderr, (args, r.stderr)
        assert target.read_bytes() == before, args
    # a report beside the run's figures, as by default, is no input
    assert run_cli("-q", "report", run, "--out", run / "report.html").returncode == 0
    assert run_cli("-q", "report", run, "--out", run / "report.html").returncode == 0


def test_an_output_folder_that_is_an_earlier_runs_is_refused(small_case, tmp_path):
    """'--earlier pubA --out pubA' replaced the publication it was checked against; its
    manifest then named itself as the earlier run, and what pubA had published was gone."""
    from .conftest import run_cli

    c = small_case
    pub = tmp_path / "pubA"
    args = ("apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--model", "voronoi", "--heat-grid", "0")
    assert run_cli("-q", *args, "--out", pub).returncode == 0
    before = snapshot(pub)
    r = run_cli("-q", *args, "--out", pub, "--earlier", pub)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "earlier" in r.stderr, r.stderr
    assert snapshot(pub) == before
    assert run_cli("-q", *args, "--out", tmp_path / "pubB", "--earlier", pub).returncode == 0


def _dead_pid() -> int:
    """A process id that no process has here."""
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


def test_a_run_stopped_between_its_two_renames_gets_the_old_folder_back(tmp_path, caplog):
    """On a file system that cannot swap folders, a probe killed a run between its two
    renames: 'out' was missing, and the next run removed the folder moved aside, the only
    copy of what 'out' held (its inputs/ too)."""
    out = tmp_path / "out"
    aside = tmp_path / f".out{outfolder._OLD}{_dead_pid()}-abcdefgh"
    (aside / "inputs").mkdir(parents=True)
    (aside / "inputs" / "counts.csv").write_text("precious\n")
    (aside / "zone_counts.csv").write_text("old\n")
    made = tmp_path / f".out{outfolder._NEW}{_dead_pid()}-ijklmnop"
    made.mkdir()
    with caplog.at_level("WARNING", logger="geozones"):
        new = outfolder.new_folder(out)
    assert (out / "inputs" / "counts.csv").read_text() == "precious\n" and (out / "zone_counts.csv").read_text() == "old\n"
    assert not aside.exists() and not made.exists() and any("is back in its place" in r.getMessage() for r in caplog.records)
    outfolder.discard_folder(new)


def test_a_leftover_is_removed_only_when_no_live_run_holds_its_lock(tmp_path):
    """A probe's run in another PID namespace (a second container on the volume) had its new
    folder removed as abandoned, its process being invisible here; while a folder's lock is
    held, another run into the same folder is refused (two runs into one folder: the last
    to end replaced the other's without a word); once nobody holds it, it is removed. A folder named like another output
    folder's with glob characters ('o[1]' against 'o1') is not touched."""
    import fcntl

    held = tmp_path / f".out{outfolder._NEW}{_dead_pid()}-aaaaaaaa"
    free = tmp_path / f".out{outfolder._NEW}{_dead_pid()}-bbbbbbbb"
    other = tmp_path / f".o1{outfolder._NEW}{_dead_pid()}-cccccccc"
    for d in (held, free, other):
        d.mkdir()
    fd = os.open(held, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # (another open file description: as another process's would be)
    try:
        with pytest.raises(OutputError, match="another run is writing to this output folder"):  # (two runs into one folder)
            outfolder.new_folder(tmp_path / "out")
        assert held.exists() and free.exists()
        new = outfolder.new_folder(tmp_path / "o[1]")
        assert other.exists()
        outfolder.discard_folder(new)
    finally:
        os.close(fd)
    outfolder.discard_folder(outfolder.new_folder(tmp_path / "out"))
    assert not held.exists() and not free.exists()


def test_a_folder_that_cannot_be_moved_gets_its_files_replaced_one_by_one(tmp_path, monkeypatch, caplog):
    """Docker's overlayfs cannot move a folder of the image (EXDEV): every run into it failed
    with 'Invalid cross-device link'. Its files are replaced one by one, others kept."""
    import errno

    out = tmp_path / "out"
    out.mkdir()
    (out / "zone_counts.csv").write_text("old\n")
    (out / "map.html").write_text("old map\n")
    (out / "notes.txt").write_text("mine\n")
    new = outfolder.new_folder(out)
    (new / "zone_counts.csv").write_text("new\n")
    real = os.rename

    def rename(src, dst, *a, **k):
        if Path(src) == out:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(src))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(outfolder, "_exchange", lambda a, b: False)
    monkeypatch.setattr(outfolder.os, "rename", rename)
    with caplog.at_level("WARNING", logger="geozones"):
        outfolder.replace_folder(new, out, outputs.OUTPUT_NAMES)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "zone_counts.csv"]
    assert (out / "zone_counts.csv").read_text() == "new\n" and not new.exists()
    assert any("one by one" in r.getMessage() for r in caplog.records)


def test_an_input_whose_name_is_not_utf8_is_recorded_in_the_manifest(small_case, tmp_path):
    """An old share's 'counts_\\xe9.csv' ran to the end and then failed with an internal
    error while the manifest was written (a surrogate cannot be UTF-8)."""
    import json

    from .conftest import run_cli

    c = small_case
    odd = tmp_path / os.fsdecode(b"counts_\xe9.csv")
    odd.write_bytes(c["counts"].read_bytes())
    out = tmp_path / "out"
    r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", odd, "--model", "voronoi", "--heat-grid", "0",
                "--out", out)
    assert r.returncode == 0, r.stderr
    recorded = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["inputs"]["counts"][0]["path"]
    assert os.fsencode(recorded) == os.fsencode(str(odd))


def test_ctrl_c_while_the_command_line_loads_is_an_interruption_not_a_traceback():
    """A probe's Ctrl-C in the first second or two (the verbs' modules loading) printed a
    Python traceback. The Ctrl-C is made to land inside that import, every time."""
    code = ("import sys, importlib.abc\n"
            "class Cut(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'geozones.cli.app':\n"
            "            raise KeyboardInterrupt\n"
            "sys.meta_path.insert(0, Cut())\n"
            "from geozones.cli import main\n"
            "main(['--help'])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stderr, r.stdout) == (130, "geozones: interrupted\n", ""), r.stderr


def test_ctrl_c_while_a_csv_is_parsed_is_an_interruption_not_a_bad_file(tmp_path, monkeypatch):
    """A probe's Ctrl-C during the CSV read was reported as 'not a readable CSV ... (export
    the counts again as CSV)' with exit 1: pandas turns the cut-short read of text in
    memory into a parser error."""
    import pandas as pd

    from geozones import _io

    path = tmp_path / "counts.csv"
    path.write_text("cell_id,count\nA,1\n")

    def cut(*a, **k):
        raise pd.errors.ParserError("Error tokenizing data. C error: Calling read(nbytes) on source failed. Try engine='python'.")

    monkeypatch.setattr(pd, "read_csv", cut)  # (read_csv_text imports pandas when called)
    with pytest.raises(KeyboardInterrupt):
        _io.read_csv_text(path)


def test_a_second_run_into_a_folder_a_run_holds_is_refused_at_once(small_case, tmp_path):
    """Two runs into one folder both said 'wrote' and exited 0; the one to end last replaced
    the other's files without a word. The folder is held from a run's start."""
    from .conftest import run_cli

    c = small_case
    out = tmp_path / "out"
    with outfolder.claimed(out):  # (as a run going in another process holds it)
        r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--heat-grid", "0",
                    "--out", out)
        assert r.returncode == 1 and "another run is writing to this output folder" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert not out.exists()
    r = run_cli("-q", "apportion", "--zones", c["zones"], "--cells", c["cells"], "--counts", c["counts"], "--heat-grid", "0", "--out", out)
    assert r.returncode == 0 and (out / "zone_counts.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []  # (no lock file left beside it)


def test_outputs_a_run_cannot_remove_are_said_not_left_without_a_word(tmp_path, monkeypatch, caplog):
    """A probe's immutable file in 'out' kept the run's '-new-' folder (holding the outputs
    it replaced) beside 'out' through every later run, and nothing said so."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "zone_counts.csv").write_text("old\n")
    new = outfolder.new_folder(out)
    (new / "zone_counts.csv").write_text("new\n")
    real = shutil.rmtree
    monkeypatch.setattr(outfolder.shutil, "rmtree", lambda p, ignore_errors=False: None)  # (nothing can be removed)
    with caplog.at_level("WARNING", logger="geozones"):
        outfolder.replace_folder(new, out, ("zone_counts.csv",))
    assert (out / "zone_counts.csv").read_text() == "new\n"
    (left,) = leftovers(out)
    assert f"{left} (outputs a run replaced or left) could not be removed" in caplog.text
    monkeypatch.setattr(outfolder.shutil, "rmtree", real)
    left.rename(left.with_name(f".out{outfolder._NEW}{_dead_pid()}-abcdefgh"))  # (as the next run, in another process, sees it)
    caplog.clear()
    with caplog.at_level("WARNING", logger="geozones"):
        outfolder.discard_folder(outfolder.new_folder(out))  # (which removes it, and says nothing)
    assert not leftovers(out) and "could not be removed" not in caplog.text
