"""Instruction counts under callgrind: import and parse figures that do not move with the machine's load.

A wall-clock ratio moves with whatever else the machine runs (issue #22: one stub per pipeline
against hand-written Python at N = 500 was 1.18x idle and 1.43x at a load average of 1.5). The
number of instructions a phase executes does not: under valgrind it is the same on a busy and an
idle machine, and two children may run at once. ``perf stat -e instructions`` would be faster
but says "not supported" on many VMs (on ours too), so this counts with
``valgrind --tool=callgrind``.

How one phase is counted, in one run: the child starts with callgrind's instrumentation off
(``--instr-atstart=no``: valgrind then runs the code about 6x slower than native instead of about
50x), turns it on right before the phase with a callgrind client request, and asks for a dump
after each phase (``CALLGRIND_DUMP_STATS_AT(label)``; the parse child dumps after every file and
every DAG's serialization). Every dump is a file of its own whose ``summary:`` line is the
instructions (Ir) since the previous one, so no subtraction of two runs is needed. The requests
are the few bytes of machine code ``callgrind.h`` expands to (x86-64 only), called through
``ctypes``, so nothing is compiled; outside valgrind they do nothing.
No cache or branch simulation; ``PYTHONHASHSEED=0``. pymalloc stays on, as in production
(``PYTHONMALLOC=malloc`` adds 6% to both sides and callgrind does not need it). A count repeats
within about 1%.

Each dump also gives, from callgrind's call graph, the number of pymalloc allocations
(calls to ``_PyObject_Malloc``/``_PyObject_Calloc``, which serve both ``PyObject_Malloc`` and
``PyMem_Malloc``) and the cyclic GC's collections and their inclusive instructions
(``gc_collect_main``). ``python bench/instructions.py why`` measures the same causes natively
(time in GC, tracemalloc peak, page faults, modules imported per file) at a larger N.

    python bench/instructions.py counts --sizes 20,100   # the rows `make bench` shows, and their notes
    python bench/instructions.py why --n 500 --k 3       # allocations, GC and imports per file, natively
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: The pipeline counts the parse is counted at. N = 500 under callgrind takes about 5 CPU-minutes per
#: shape, even with instrumentation off during the imports: N = 500 is extrapolated from N = 100 at
#: its cost per DAG, and N = 20 shows that a typical DAG's ratio does not move with N.
SIZES = (20, 100)
SMOKE_SIZES = (2, 3)  # a cost per DAG after the first needs two
SHAPES = ("stubs", "handwritten")
#: The issue's goal for one stub per pipeline against hand-written Python, in time and instructions.
PARSE_GOAL = 1.10
#: A typical DAG's stubs / hand-written ratio at the larger N against the smaller: "flat in N" within this
#: (a count repeats within about 1%, so less room for noise than the time rows' 1.25).
FLAT = 1.05
GIGA = 1e9
#: What a DAG build imports after ``airflow.sdk``: the same list as ``children.measure_import``.
BUILD_STACK = (
    "airflow_mlops.factory.retraining",
    "airflow_mlops.factory.templates",
    "airflow_mlops.settings",
    "airflow_mlops.spec.loader",
)
CALLGRIND_OPTIONS = (
    "--tool=callgrind",
    "--instr-atstart=no",  # the child switches it on where the measured phase starts
    "--cache-sim=no",
    "--branch-sim=no",
    "--dump-line=no",  # per-line costs: not read, and they make every dump file larger
)
ALLOC_FUNCTIONS = ("_PyObject_Malloc", "_PyObject_Calloc")
GC_FUNCTION = "gc_collect_main"


# -- inside the measured interpreter: callgrind client requests ------------------------------------

# callgrind.h's request on x86-64: the special preamble (four rotations of rdi that add up to
# 128 bits, a no-op natively), then ``xchg rbx, rbx``; rax points at the request block, the
# answer comes back in rdx (0 when not under valgrind).
_REQUEST_CODE = bytes.fromhex(
    "4889f8"  # mov rax, rdi (the block: request, 5 arguments)
    "31d2"  # xor edx, edx (the default answer)
    "48c1c70348c1c70d48c1c73d48c1c733"  # rol rdi, 3; rol rdi, 13; rol rdi, 61; rol rdi, 51
    "4887db"  # xchg rbx, rbx
    "4889d0"  # mov rax, rdx
    "c3"  # ret
)
_CT_BASE = (ord("C") << 24) | (ord("T") << 16)  # VG_USERREQ_TOOL_BASE('C', 'T')
_ZERO_STATS, _DUMP_STATS_AT, _START_INSTRUMENTATION = _CT_BASE + 1, _CT_BASE + 3, _CT_BASE + 4
_RUNNING_ON_VALGRIND = 0x1001


class Callgrind:
    """Client requests from Python: ``start()`` before a phase, ``dump(label)`` after it."""

    def __init__(self) -> None:
        import ctypes
        import mmap

        self._ctypes = ctypes
        self._page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        self._page.write(_REQUEST_CODE)
        address = ctypes.addressof(ctypes.c_char.from_buffer(self._page))
        self._call = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.c_void_p)(address)
        self.active = platform.machine() in ("x86_64", "AMD64") and self._request(_RUNNING_ON_VALGRIND) > 0

    def _request(self, code: int, arg: int = 0) -> int:
        block = (self._ctypes.c_ulong * 6)(code, arg, 0, 0, 0, 0)
        return int(self._call(self._ctypes.addressof(block)))

    def start(self) -> None:
        if self.active:
            self._request(_START_INSTRUMENTATION)
            self._request(_ZERO_STATS)

    def dump(self, label: str) -> None:
        if self.active:
            text = self._ctypes.create_string_buffer(label.encode())
            self._request(_DUMP_STATS_AT, self._ctypes.addressof(text))


def child_import(cg: Callgrind, _: dict[str, Any]) -> dict[str, Any]:
    """``import airflow.sdk``, then the loader stub's import, then the rest of the DAG-build stack."""
    import importlib

    cg.start()
    import airflow.sdk  # noqa: F401

    cg.dump("sdk")
    from airflow_mlops import load_pipeline, load_pipelines  # noqa: F401

    cg.dump("loader")
    for name in BUILD_STACK:
        importlib.import_module(name)
    cg.dump("build_rest")
    return {"modules": len(sys.modules)}


def child_parse(cg: Callgrind, args: dict[str, Any]) -> dict[str, Any]:
    """As ``children.measure_parse``: DagBag over the folder, then serialize every DAG; imports not counted.

    One dump per file DagBag reads (``file 1``, ``file 2``, ... in its order) and per DAG serialized
    (``serialize 1``, ...), so the parent sees what the first file costs (it imports our modules or
    the operators) and what every later DAG costs.
    """
    import airflow.sdk  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    process_file = DagBag.process_file
    files = 0

    def dumping(self: Any, *a: Any, **kw: Any) -> Any:
        nonlocal files
        found = process_file(self, *a, **kw)
        files += 1
        cg.dump(f"file {files}")
        return found

    DagBag.process_file = dumping  # type: ignore[method-assign]
    cg.start()
    bag = DagBag(dag_folder=args["folder"])
    cg.dump("parse rest")  # after the last file: listing the folder came before the first
    for i, dag in enumerate(bag.dags.values(), 1):
        DagSerialization.to_dict(dag)
        cg.dump(f"serialize {i}")
    errors = [f"{path}: {text.strip().splitlines()[-1]}" for path, text in bag.import_errors.items()]
    return {"n_dags": len(bag.dags), "expect": args["expect"], "files": files, "import_errors": errors}


def child_why(_: Callgrind, args: dict[str, Any]) -> dict[str, Any]:
    """Natively: time, GC, page faults and modules imported per file while a DagBag parses and serializes."""
    import gc
    import resource

    import airflow.sdk  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    gc_log: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        else:
            gc_log[info["generation"]].append(time.perf_counter() - started.pop())

    per_file: list[list[str]] = []
    process_file = DagBag.process_file

    def counting(self: Any, filepath: str, *a: Any, **kw: Any) -> Any:
        before = set(sys.modules)
        found = process_file(self, filepath, *a, **kw)
        per_file.append(sorted(set(sys.modules) - before))
        return found

    DagBag.process_file = counting  # type: ignore[method-assign]
    tracing = bool(args.get("tracemalloc"))
    if tracing:
        import tracemalloc

        tracemalloc.start()
    usage0, blocks0, modules0 = resource.getrusage(resource.RUSAGE_SELF), sys.getallocatedblocks(), len(sys.modules)
    gc.callbacks.append(on_gc)
    t0 = time.perf_counter()
    bag = DagBag(dag_folder=args["folder"])
    t1 = time.perf_counter()
    serialized = [DagSerialization.to_dict(dag) for dag in bag.dags.values()]
    t2 = time.perf_counter()
    gc.callbacks.remove(on_gc)
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    result: dict[str, Any] = {
        "n_dags": len(bag.dags),
        "n_serialized": len(serialized),
        "parse": t1 - t0,
        "serialize": t2 - t1,
        "gc_collections": [len(gc_log[g]) for g in range(3)],
        "gc_seconds": [sum(gc_log[g]) for g in range(3)],
        "minor_faults": usage1.ru_minflt - usage0.ru_minflt,
        "max_rss_mb": usage1.ru_maxrss / 1024,
        "involuntary_switches": usage1.ru_nivcsw - usage0.ru_nivcsw,
        "user_cpu": usage1.ru_utime - usage0.ru_utime,
        "system_cpu": usage1.ru_stime - usage0.ru_stime,
        "blocks_after": sys.getallocatedblocks() - blocks0,
        "modules_added": len(sys.modules) - modules0,
        "first_file_modules": len(per_file[0]) if per_file else 0,
        "later_files_modules": [len(names) for names in per_file[1:]],
        "later_files_examples": sorted({n for names in per_file[1:] for n in names})[:6],
    }
    if tracing:
        current, peak = tracemalloc.get_traced_memory()
        snapshot = tracemalloc.take_snapshot()
        result |= {"traced_mb": current / 2**20, "traced_peak_mb": peak / 2**20,
                   "traced_blocks": sum(s.count for s in snapshot.statistics("filename"))}  # fmt: skip
    return result


CHILD_KINDS: dict[str, Callable[[Callgrind, dict[str, Any]], dict[str, Any]]] = {
    "import": child_import,
    "parse": child_parse,
    "why": child_why,
}


def child_main(kind: str, raw: str) -> None:
    cg = Callgrind()
    result = CHILD_KINDS[kind](cg, json.loads(raw))
    result["under_callgrind"] = cg.active
    print("RESULT=" + json.dumps(result), flush=True)
    os._exit(0)  # no teardown: freeing hundreds of DAGs is not what is measured


# -- the parent: run a child under callgrind and read its dumps -------------------------------------


def valgrind() -> str | None:
    """The valgrind executable, or None (the rows then say "valgrind not installed")."""
    return shutil.which("valgrind")


def _header(lines: list[str], key: str) -> str:
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(f"{key}:")), "")


def read_dump(path: Path) -> dict[str, Any]:
    """One callgrind dump: its trigger label, total Ir, pymalloc allocations, GC collections and their Ir."""
    text = path.read_text(errors="replace").splitlines()
    head = text[:40]
    trigger = next((line.split("Trigger:", 1)[1].strip() for line in head if line.startswith("desc: Trigger:")), "")
    label = trigger.removeprefix("Client Request:").strip()  # e.g. "Client Request: parse"
    total = _header(text[-5:] + head, "summary") or _header(text[-5:], "totals")
    n_positions = len((_header(head, "positions") or "line").split())
    calls, inclusive = _calls(text, n_positions, (*ALLOC_FUNCTIONS, GC_FUNCTION))
    return {
        "label": label,
        "ir": int(total.split()[0]) if total else None,
        "allocs": sum(calls[f] for f in ALLOC_FUNCTIONS),
        "gc_runs": calls[GC_FUNCTION],
        "gc_ir": inclusive[GC_FUNCTION],
    }


_NAME = re.compile(r"\((\d+)\)(?: (.*))?")


def _calls(lines: list[str], n_positions: int, wanted: tuple[str, ...]) -> tuple[dict[str, int], dict[str, int]]:
    """Calls to each wanted function and their inclusive Ir, from the ``cfn=``/``calls=`` lines."""
    names: dict[str, str] = {}
    calls = dict.fromkeys(wanted, 0)
    inclusive = dict.fromkeys(wanted, 0)
    callee, pending = "", ""
    for line in lines:
        if line.startswith("cfn=") or line.startswith("fn="):
            rest = line.split("=", 1)[1]
            match = _NAME.match(rest)
            if match:
                if match.group(2):
                    names[match.group(1)] = match.group(2)
                rest = names.get(match.group(1), "")
            if line.startswith("cfn="):
                callee = rest
        elif line.startswith("calls="):
            pending = callee
            if pending in calls:
                calls[pending] += int(line[6:].split()[0])
        elif pending:
            if pending in inclusive:  # the line after calls=: position(s), then the call's inclusive cost
                inclusive[pending] += int(line.split()[n_positions])
            pending = ""
    return calls, inclusive


def run_counted(kind: str, args: dict[str, Any], env: dict[str, str], out: Path, keep: bool = False) -> dict[str, Any]:
    """One child under callgrind; its result and, per dumped phase, what ``read_dump`` reads."""
    exe = valgrind()
    if exe is None:
        raise RuntimeError("valgrind not installed")
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / "callgrind.out"
    cmd = [exe, *CALLGRIND_OPTIONS, f"--callgrind-out-file={prefix}", sys.executable, str(Path(__file__).resolve()),
           "child", kind, json.dumps(args)]  # fmt: skip
    started = time.monotonic()
    # DagBag's import timeout (30 s) is wall time, and a file runs about 50x slower under callgrind: with
    # the test suite beside it, the first stub (which imports our modules) once took longer and was dropped.
    no_timeout = {"PYTHONHASHSEED": "0", "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "0"}
    proc = subprocess.run(cmd, env=env | no_timeout, cwd=out, capture_output=True, text=True,
                          timeout=3600, check=False)  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT=")]
    if proc.returncode != 0 or len(lines) != 1:
        raise RuntimeError(f"{kind} {args} under callgrind exited {proc.returncode}:\n{proc.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(lines[0].removeprefix("RESULT="))
    phases = {}
    for dump in sorted(out.glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:])):
        found = read_dump(dump)
        phases[found["label"]] = found
        if not keep:
            dump.unlink()
    prefix.unlink(missing_ok=True)
    if not result.get("under_callgrind"):
        raise RuntimeError(f"{kind}: the child did not see valgrind (client requests need x86-64)")
    result["phases"] = phases
    result["wall"] = time.monotonic() - started
    return result


def run_native(kind: str, args: dict[str, Any], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "child", kind, json.dumps(args)],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=1800, check=False)  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT=")]
    if proc.returncode != 0 or len(lines) != 1:
        raise RuntimeError(f"{kind} {args} exited {proc.returncode}:\n{proc.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(lines[0].removeprefix("RESULT="))
    return result


def layouts(root: Path, sizes: tuple[int, ...]) -> dict[tuple[str, int], Path]:
    """The stub and hand-written folders at each N (bench/generate.py), byte-compiled like the parse bench's."""
    import compileall

    import generate

    folders = {}
    for n in sizes:
        for shape in SHAPES:
            folders[shape, n] = generate.build_layout(root, shape, n)
            compileall.compile_dir(str(folders[shape, n]), quiet=1)
    return folders


def measure(work: Path, sizes: tuple[int, ...], env: Callable[[dict[str, str]], dict[str, str]],
            jobs: int = 2, log: Callable[[str], None] = print) -> dict[str, Any]:  # fmt: skip
    """The import child and the parse children at each N, ``jobs`` at once; ``{"import": ..., ("stubs", n): ...}``."""
    sys.path.insert(0, str(HERE))
    folders = layouts(work / "dags", sizes)
    # One native import first: Airflow writes its config into a new AIRFLOW_HOME on first use.
    try:
        run_native("import", {}, env({}), work)
    except (RuntimeError, subprocess.TimeoutExpired) as err:  # every row then says why
        return {key: err for key in ["import", *folders]}
    jobs_list: list[tuple[Any, str, dict[str, Any], dict[str, str]]] = [("import", "import", {}, env({}))]
    for (shape, n), folder in sorted(folders.items(), key=lambda item: -item[0][1]):  # longest first
        args = {"folder": str(folder), "expect": n}
        jobs_list.append(((shape, n), "parse", args, env({"AIRFLOW__CORE__DAGS_FOLDER": str(folder)})))

    def one(job: tuple[Any, str, dict[str, Any], dict[str, str]]) -> tuple[Any, Any]:
        key, kind, args, child_env = job
        name = key if isinstance(key, str) else f"{key[0]}-{key[1]}"
        try:
            result = run_counted(kind, args, child_env, work / "callgrind" / name)
        except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError) as err:  # the row says why
            return key, err
        log(f"  callgrind {name}: {result['wall']:.0f} s")
        return key, result

    with ThreadPoolExecutor(jobs) as pool:
        return dict(pool.map(one, jobs_list))


def _ir(result: Any, *labels: str, scale: float = 1.0) -> float | None:
    if not isinstance(result, dict) or not all(label in result["phases"] for label in labels):
        return None
    return sum(result["phases"][label]["ir"] for label in labels) / scale


def _missing(*results: Any) -> str:
    for result in results:
        if isinstance(result, Exception):
            return f"failed: {str(result).strip().splitlines()[0][:160]}"
        if isinstance(result, dict) and "expect" in result and result["n_dags"] != result["expect"]:
            why = "; ".join(result.get("import_errors") or [])[:200]
            return f"failed: {result['n_dags']} of {result['expect']} DAGs built" + (f" ({why})" if why else "")
    return ""


def summarize(result: Any) -> dict[str, float] | None:
    """A parse child's dumps as: the whole phase, the first DAG (file + serialization), each later DAG's mean."""
    if not isinstance(result, dict) or _missing(result) or result["n_dags"] < 2:
        return None
    phases, n = result["phases"], result["n_dags"]

    def total(key: str) -> float:
        return float(sum(phase[key] for phase in phases.values()))

    later = [phases[f"file {i}"]["ir"] + phases[f"serialize {i}"]["ir"] for i in range(2, n + 1)]
    return {
        "n": n,
        "ir": total("ir"),
        "first": float(phases["file 1"]["ir"] + phases["serialize 1"]["ir"]),
        "per_dag": statistics.fmean(later),  # with the GC collections that fell among them
        "typical": statistics.median(later),  # one DAG's own work: a collection lands in a few DAGs only
        "typical_file": statistics.median(phases[f"file {i}"]["ir"] for i in range(2, n + 1)),
        "typical_serialize": statistics.median(phases[f"serialize {i}"]["ir"] for i in range(2, n + 1)),
        "allocs": total("allocs"),
        "gc_runs": total("gc_runs"),
        "gc_ir": total("gc_ir"),
    }


def rows(found: dict[Any, Any] | None, sizes: tuple[int, ...], target: int) -> list[dict[str, Any]]:
    """The bench table's rows; with ``found`` None, rows that say valgrind is missing.

    ``target`` is the N the time rows' goal applies to. Its count is extrapolated from the larger
    N measured: that run's instructions plus ``target - N`` more DAGs at its cost per DAG after
    the first, which the last row shows is flat in N.
    """
    small, big = min(sizes), max(sizes)
    target = max(target, big)
    versus = "per-pipeline stubs vs hand-written Python"
    specs = [
        ("instructions: what a DAG build imports after `airflow.sdk` (loader, spec, factory, operators, hooks) vs "
         "`import airflow.sdk`, 10^9 instructions (not s)", "-", None),
        (f"instructions: parse + serialize at N={big}, {versus}, 10^9 instructions (not s)", "-", None),
        (f"instructions: parse + serialize per DAG after the first (mean, GC included), at N={big}, {versus}, "
         "10^6 instructions (not s)", "-", None),
        (f"instructions: parse + serialize at N={target}, extrapolated from N={big} at its cost per DAG, {versus}, "
         "10^9 instructions (not s)", f"<= {PARSE_GOAL}x", PARSE_GOAL),
        (f"instructions: a typical DAG's ratio (median DAG, stubs / hand-written) at N={big} vs at N={small} "
         "(flat in N)", f"<= {FLAT}x", FLAT),
    ]  # fmt: skip
    if found is None:
        return [{"measure": m, "ours": None, "baseline": None, "goal": g, "limit": lim,
                 "missing": "valgrind not installed"} for m, g, lim in specs]  # fmt: skip
    imp = found["import"]
    got = {key: summarize(found[key]) for key in found if key != "import"}
    missing = next((_missing(found[key]) for key in got if _missing(found[key])), "") or "failed: no result"
    # (ours, baseline, why missing), in the unit of the row's label
    values: list[tuple[float | None, float | None, str]] = [
        (_ir(imp, "loader", "build_rest", scale=GIGA), _ir(imp, "sdk", scale=GIGA), _missing(imp))
    ]
    s, h = got.get(("stubs", big)), got.get(("handwritten", big))
    s0, h0 = got.get(("stubs", small)), got.get(("handwritten", small))
    if s is None or h is None:
        values += [(None, None, missing)] * 4
    else:
        at_target = [(x["ir"] + (target - big) * x["per_dag"]) / GIGA for x in (s, h)]
        values += [
            (s["ir"] / GIGA, h["ir"] / GIGA, ""),
            (s["per_dag"] / 1e6, h["per_dag"] / 1e6, ""),
            (at_target[0], at_target[1], ""),
            (s["typical"] / h["typical"], s0["typical"] / h0["typical"] if s0 and h0 else None,
             "" if s0 and h0 else missing),
        ]  # fmt: skip
    return [{"measure": measure, "ours": ours, "baseline": base, "goal": goal, "limit": limit, "missing": why}
            for (measure, goal, limit), (ours, base, why) in zip(specs, values, strict=True)]  # fmt: skip


def notes(found: dict[Any, Any], sizes: tuple[int, ...]) -> list[str]:
    """What the first DAG costs, the smaller N, allocations and GC, from the same dumps."""
    small, big = min(sizes), max(sizes)
    out = []
    imp = found.get("import")
    if isinstance(imp, dict):
        ph = imp["phases"]
        out.append(
            f"Instructions, imports: `import airflow.sdk` {ph['sdk']['ir'] / GIGA:.3f} x 10^9; after it, the loader "
            f"stub's import {ph['loader']['ir'] / GIGA:.3f} x 10^9 and the rest of the DAG-build stack "
            f"{ph['build_rest']['ir'] / GIGA:.3f} x 10^9."
        )
    got = {key: summarize(found[key]) for key in found if key != "import"}
    s, h, s0, h0 = (got.get((shape, n)) for n in (big, small) for shape in SHAPES)
    if not (s and h and s0 and h0):
        return out
    out.append(
        f"Instructions, parse + serialize: at N={small} {s0['ir'] / GIGA:.3f} x 10^9 stubs vs {h0['ir'] / GIGA:.3f} "
        f"x 10^9 hand-written ({s0['ir'] / h0['ir']:.2f}x); the first DAG (its file, which imports our modules or "
        f"the operators, and its serialization) {s['first'] / 1e6:.0f} x 10^6 vs {h['first'] / 1e6:.0f} x 10^6, "
        f"every later DAG {s['per_dag'] / 1e6:.1f} x 10^6 vs {h['per_dag'] / 1e6:.1f} x 10^6 at N={big} "
        f"({s0['per_dag'] / 1e6:.1f} vs {h0['per_dag'] / 1e6:.1f} at N={small}); the median DAG "
        f"{s['typical'] / 1e6:.1f} vs {h['typical'] / 1e6:.1f} at N={big}, {s0['typical'] / 1e6:.1f} vs "
        f"{h0['typical'] / 1e6:.1f} at N={small} (its file {s['typical_file'] / 1e6:.1f} vs "
        f"{h['typical_file'] / 1e6:.1f}, its serialization {s['typical_serialize'] / 1e6:.1f} vs "
        f"{h['typical_serialize'] / 1e6:.1f})."
    )
    out.append(
        f"At N={big}, per DAG (parse + serialize): pymalloc allocations {s['allocs'] / big:,.0f} stubs vs "
        f"{h['allocs'] / big:,.0f} hand-written; cyclic GC {s['gc_runs']:.0f} vs {h['gc_runs']:.0f} collections, "
        f"{s['gc_ir'] / s['ir']:.1%} vs {h['gc_ir'] / h['ir']:.1%} of the instructions."
    )
    return out


# -- by hand: the counts alone, and the causes measured natively -------------------------------------


def _bench_env(work: Path) -> Callable[[dict[str, str]], dict[str, str]]:
    sys.path.insert(0, str(HERE))
    import run

    bench = run.Bench(sizes=[1], k=1, k_heavy=1, k_ops=1, rows=[], dagfactory=None, work=work)
    return lambda extra: bench.env(extra)


def why(n: int, k: int, work: Path) -> None:
    """Stubs against hand-written at N, natively, k rounds (the second pass of each with tracemalloc)."""
    env = _bench_env(work)
    folders = layouts(work / "dags", (n,))
    results: dict[str, list[dict[str, Any]]] = {shape: [] for shape in SHAPES}
    traced: dict[str, dict[str, Any]] = {}
    for _ in range(k):
        for shape in SHAPES:
            args = {"folder": str(folders[shape, n])}
            results[shape].append(run_native("why", args, env({"AIRFLOW__CORE__DAGS_FOLDER": args["folder"]}), work))
    for shape in SHAPES:
        args = {"folder": str(folders[shape, n]), "tracemalloc": True}
        traced[shape] = run_native("why", args, env({"AIRFLOW__CORE__DAGS_FOLDER": args["folder"]}), work)
    for shape in SHAPES:
        print(f"{shape}, N={n}, median of {k} (tracemalloc: one more run):")
        for name, value in _why_summary(results[shape], traced[shape]).items():
            print(f"  {name}: {value}")


def _why_summary(runs: list[dict[str, Any]], traced: dict[str, Any]) -> dict[str, str]:
    def med(pick: Callable[[dict[str, Any]], float]) -> float:
        return float(statistics.median(pick(r) for r in runs))

    first = runs[0]
    return {
        "parse + serialize (s)": f"{med(lambda r: r['parse'] + r['serialize']):.3f}: parse "
        f"{med(lambda r: r['parse']):.3f}, serialize {med(lambda r: r['serialize']):.3f}; CPU user "
        f"{med(lambda r: r['user_cpu']):.3f}, system {med(lambda r: r['system_cpu']):.3f}",
        "GC (s)": f"{med(lambda r: sum(r['gc_seconds'])):.3f} by generation "
        f"{[round(med(lambda r, g=g: r['gc_seconds'][g]), 3) for g in range(3)]}",
        "GC collections": f"{med(lambda r: sum(r['gc_collections'])):.0f} by generation {first['gc_collections']}",
        "minor page faults": f"{med(lambda r: r['minor_faults']):,.0f}",
        "max RSS (MB)": f"{med(lambda r: r['max_rss_mb']):.0f}",
        "involuntary context switches": f"{med(lambda r: r['involuntary_switches']):.0f}",
        "pymalloc blocks still allocated": f"{med(lambda r: r['blocks_after']):,.0f}",
        "modules added": f"{first['modules_added']}: first file {first['first_file_modules']}, later files "
        f"{sorted(set(first['later_files_modules']))} each, e.g. {first['later_files_examples'][:3]}",
        "tracemalloc": f"peak {traced['traced_peak_mb']:.1f} MB; {traced['traced_mb']:.1f} MB in "
        f"{traced['traced_blocks']:,} blocks at the end; parse + serialize "
        f"{traced['parse'] + traced['serialize']:.3f} s with tracing",
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        child_main(argv[1], argv[2] if len(argv) > 2 else "{}")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("counts", "why"))
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="N for the counts (comma list)")
    parser.add_argument("--n", type=int, default=500, help="N for why, and the N counts extrapolate to")
    parser.add_argument("--k", type=int, default=3, help="rounds for why")
    opts = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="airflow-mlops-instructions-") as tmp:
        work = Path(tmp)
        os.environ["AIRFLOW_HOME"] = str(work / "airflow-home")  # generating the twins imports Airflow here
        if opts.what == "why":
            why(opts.n, opts.k, work)
            return 0
        sizes = tuple(sorted({int(s) for s in opts.sizes.split(",")}))
        found = measure(work, sizes, _bench_env(work)) if valgrind() else None
        for row in rows(found, sizes, opts.n):
            print(json.dumps(row))
        for note in notes(found, sizes) if found else []:
            print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
