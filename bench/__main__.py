"""`python -m bench`: ftready at 1M and 10M calls against the warehouse's own limit and a pandas notebook.

B1 full sync vs the bare pushdown GROUP BY vs `pd.read_sql` + groupby (time and peak RSS);
B2 incremental sync after 1 % new rows (with and without `ingested_at`); B3 evaluate; B4 the
weekly report. Each figure is the median of `--runs` runs, each run a fresh child process
(`bench.worker`); B1's three approaches are interleaved run by run so they see the same cache
state. Prints the tables and writes bench/RESULTS.md (figures, same-run ratios, targets).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.data import INCREMENT_NOW, NOW, BenchTable, duckdb_url, ensure_table, with_appended_rows
from bench.worker import RESULT_PREFIX

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("postgresql", "duckdb")
ALL_CASES = ("b1", "b2", "b3", "b4")
NOTES = Path(__file__).with_name("notes.md")

# Targets (issue 8)
SYNC_VS_BARE = 1.25
NAIVE_TIME_FACTOR = 5.0
NAIVE_MEMORY_FACTOR = 50.0
SYNC_RSS_MB = 200.0
SYNC_RSS_SPREAD = 0.10
INCREMENTAL_SHARE = 0.05
EVALUATE_SECONDS = 2.0
REPORT_SECONDS = 10.0
REPORT_BYTES = 3 * 1024 * 1024
SLOW_CASE_SECONDS = 60.0  # an evaluate or report run slower than this is not repeated


@dataclass
class Options:
    runs: int = 3
    naive_runs: int = 1
    sizes: tuple[int, ...] = (1_000_000, 10_000_000)
    backends: tuple[str, ...] = BACKENDS
    cases: tuple[str, ...] = ALL_CASES
    rebuild: bool = False
    postgres_url: str = DEFAULT_POSTGRES_URL
    data_dir: Path = ROOT / ".ftready" / "bench"
    output: Path | None = Path(__file__).with_name("RESULTS.md")
    eval_workloads: int = 200
    eval_days: int = 730
    report_workloads: int = 50


@dataclass
class Measured:
    """The runs of one approach on one table."""

    results: list[dict[str, Any]] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(float(r[key]) for r in self.results)

    @property
    def seconds(self) -> float:
        return self.median("seconds")

    @property
    def rss(self) -> float:
        return self.median("peak_rss_mb")

    def last(self, key: str) -> Any:
        return self.results[-1].get(key)


@dataclass
class TableRun:
    table: BenchTable
    build_seconds: float | None
    approaches: dict[str, Measured] = field(default_factory=dict)
    appended: int = 0


@dataclass
class Pending:
    case: str
    reason: str


@dataclass
class Report:
    options: Options
    started: datetime
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    seconds: float = 0.0
    tables: list[TableRun] = field(default_factory=list)
    store_cases: dict[str, tuple[Measured, dict[str, int]]] = field(default_factory=dict)
    pending: list[Pending] = field(default_factory=list)


# -- running ----------------------------------------------------------------------------------------


def run_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one case in a fresh interpreter and return its figures (with `peak_rss_mb`)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "bench.worker", json.dumps(spec)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise CaseFailed(f"case {spec['case']} failed (exit {done.returncode}):\n{tail}")
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


class CaseFailed(RuntimeError):
    pass


def run(options: Options, work: Path, say: Any = print) -> Report:
    report = Report(options, datetime.now(timezone.utc), os.getloadavg())
    clock = time.perf_counter()
    for backend in options.backends:
        url = options.postgres_url if backend == "postgresql" else duckdb_url(options.data_dir)
        for rows in options.sizes:
            table = BenchTable(backend, url, rows)
            say(f"[{backend} {rows:,}] table {table.qualified}: ", end="")
            built = ensure_table(table, rebuild=options.rebuild)
            say("reused" if built is None else f"built in {built:.1f} s")
            entry = TableRun(table, built)
            report.tables.append(entry)
            if "b1" in options.cases:
                _full_sync(entry, options, work, say)
            if "b2" in options.cases:
                _incremental(entry, options, work, say)
    if "b3" in options.cases:
        _store_case(report, "evaluate", options.eval_workloads, work, say)
    if "b4" in options.cases:
        _store_case(report, "report", options.report_workloads, work, say)
    report.seconds = time.perf_counter() - clock
    report.load_after = os.getloadavg()
    return report


def _spec(case: str, table: BenchTable, **extra: Any) -> dict[str, Any]:
    return {"case": case, "backend": table.backend, "url": table.url, "rows": table.rows, **extra}


def _full_sync(entry: TableRun, options: Options, work: Path, say: Any) -> None:
    table = entry.table
    for name in ("bare", "sync", "naive"):
        entry.approaches[name] = Measured()
    for number in range(options.runs):
        for name in ("bare", "sync", "naive"):
            if name == "naive" and number >= options.naive_runs:
                continue
            extra: dict[str, Any] = {}
            if name == "sync":
                store = _b1_store(work, table, number)
                _fresh(store)
                extra = {"store": str(store), "now": NOW.isoformat()}
            result = run_case(_spec(name, table, **extra))
            entry.approaches[name].results.append(result)
            say(f"  B1 {name:<6} run {number + 1}: {result['seconds']:8.2f} s  {result['peak_rss_mb']:8.1f} MB")


def _b1_store(work: Path, table: BenchTable, number: int) -> Path:
    return work / f"b1-{table.backend}-{table.name}-{number}.db"


def _fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _copy_store(source: Path, target: Path) -> None:
    _fresh(target)
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


def _incremental(entry: TableRun, options: Options, work: Path, say: Any) -> None:
    table = entry.table
    baseline = _b1_store(work, table, options.runs - 1)
    if not baseline.exists():  # B1 skipped: backfill once, unmeasured
        run_case(_spec("sync", table, store=str(baseline), now=NOW.isoformat()))
    with with_appended_rows(table, work) as (appended, count):
        entry.appended = count
        for mode, ingested in (("ingested", True), ("lookback", False)):
            measured = entry.approaches[f"incremental_{mode}"] = Measured()
            for number in range(options.runs):
                store = work / f"b2-{table.backend}-{table.name}-{mode}.db"
                _copy_store(baseline, store)
                result = run_case(
                    _spec("sync", appended, store=str(store), now=INCREMENT_NOW.isoformat(), ingested_at=ingested)
                )
                if result["mode"] != mode:
                    raise CaseFailed(f"incremental sync ran in mode {result['mode']!r}, expected {mode!r}")
                measured.results.append(result)
                say(f"  B2 {mode:<8} run {number + 1}: {result['seconds']:8.3f} s  ({result['days']} days recomputed)")


def _store_case(report: Report, case: str, workloads: int, work: Path, say: Any) -> None:
    options = report.options
    try:
        if case == "evaluate":
            __import__("monitor.evaluate")
        else:
            __import__("reports.publish")
    except ImportError as exc:
        report.pending.append(Pending(case, f"not importable yet: {exc}"))
        say(f"[{case}] pending: {exc}")
        return
    template = work / f"{case}-template.db"
    _fresh(template)
    from bench.cases import build_rollup_store

    counts = build_rollup_store(template, workloads=workloads, days=options.eval_days)
    measured = Measured()
    for number in range(options.runs):
        store = work / f"{case}.db"
        _copy_store(template, store)
        out_dir = work / f"reports-{number}"
        shutil.rmtree(out_dir, ignore_errors=True)
        try:
            result = run_case({"case": case, "store": str(store), "workloads": workloads, "out_dir": str(out_dir)})
        except CaseFailed as exc:
            report.pending.append(Pending(case, f"failed: {str(exc).splitlines()[-1]}"))
            say(f"[{case}] {exc}")
            return
        measured.results.append(result)
        say(f"[{case}] {workloads} workloads run {number + 1}: {result['seconds']:.3f} s")
        if result["seconds"] > SLOW_CASE_SECONDS:
            break  # far off its target already: more runs would not change the verdict
    report.store_cases[case] = (measured, counts)


# -- reporting --------------------------------------------------------------------------------------


def _mb(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _rows_label(rows: int) -> str:
    return f"{rows / 1e6:g}M" if rows >= 1_000_000 else f"{rows:,}"


def _targets(report: Report) -> list[tuple[str, str, str]]:
    """(target, measured, met?) rows, from this run's figures only."""
    out: list[tuple[str, str, str]] = []

    def check(target: str, measured: str, ok: bool) -> None:
        out.append((target, measured, "met" if ok else "**missed**"))

    largest = max(report.options.sizes)
    by_backend: dict[str, dict[int, TableRun]] = {}
    for entry in report.tables:
        by_backend.setdefault(entry.table.backend, {})[entry.table.rows] = entry
    for backend, entries in by_backend.items():
        for rows, entry in sorted(entries.items()):
            a, label = entry.approaches, f"{backend} {_rows_label(rows)}"
            if "sync" not in a:
                continue
            sync, context = a["sync"], ""
            if "bare" in a:
                ratio = sync.seconds / a["bare"].seconds
                check(f"{label}: sync ≤ {SYNC_VS_BARE} × bare GROUP BY", f"{ratio:.2f} ×", ratio <= SYNC_VS_BARE)
                context = f" (bare GROUP BY alone: {_mb(a['bare'].rss)} MB)"
            check(
                f"{label}: sync peak RSS ≤ {SYNC_RSS_MB:.0f} MB", f"{_mb(sync.rss)} MB{context}", sync.rss <= SYNC_RSS_MB
            )
            if "naive" in a and rows == largest:
                faster, leaner = a["naive"].seconds / sync.seconds, a["naive"].rss / sync.rss
                check(f"{label}: sync ≥ {NAIVE_TIME_FACTOR:g} × faster than naive pandas", f"{faster:.1f} ×",
                      faster >= NAIVE_TIME_FACTOR)  # fmt: skip
                check(f"{label}: sync ≥ {NAIVE_MEMORY_FACTOR:g} × less peak memory than naive pandas",
                      f"{leaner:.0f} ×", leaner >= NAIVE_MEMORY_FACTOR)  # fmt: skip
            for mode in ("ingested", "lookback"):
                if f"incremental_{mode}" in a:
                    share = a[f"incremental_{mode}"].seconds / sync.seconds
                    check(f"{label}: incremental ({mode}) ≤ {INCREMENTAL_SHARE:.0%} of backfill", f"{share:.1%}",
                          share <= INCREMENTAL_SHARE)  # fmt: skip
        sized = sorted(r for r, e in entries.items() if "sync" in e.approaches)
        if len(sized) >= 2:
            small, big = (entries[r].approaches["sync"].rss for r in (sized[0], sized[-1]))
            spread = big / small - 1
            check(f"{backend}: sync peak RSS {_rows_label(sized[0])} → {_rows_label(sized[-1])} within "
                  f"{SYNC_RSS_SPREAD:.0%}", f"{spread:+.1%}", abs(spread) <= SYNC_RSS_SPREAD)  # fmt: skip
    options = report.options
    if "evaluate" in report.store_cases:
        seconds = report.store_cases["evaluate"][0].seconds
        check(f"evaluate {options.eval_workloads} workloads ≤ {EVALUATE_SECONDS:g} s", f"{seconds:.2f} s",
              seconds <= EVALUATE_SECONDS)  # fmt: skip
    if "report" in report.store_cases:
        measured = report.store_cases["report"][0]
        check(f"report {options.report_workloads} workloads ≤ {REPORT_SECONDS:g} s", f"{measured.seconds:.2f} s",
              measured.seconds <= REPORT_SECONDS)  # fmt: skip
        size = measured.median("html_bytes")
        check(f"report ≤ {REPORT_BYTES / 2**20:g} MB", f"{size / 2**20:.2f} MB", size <= REPORT_BYTES)
    out += [(item.case, "pending", item.reason) for item in report.pending]
    return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _runs(measured: Measured, digits: int = 2) -> str:
    return " / ".join(f"{r['seconds']:.{digits}f}" for r in measured.results)


def _b1_lines(report: Report, entries: list[TableRun]) -> list[str]:
    options = report.options
    rows, checks = [], []
    for entry in entries:
        a, size = entry.approaches, _rows_label(entry.table.rows)
        for name, label in (("bare", "bare GROUP BY (the limit)"), ("sync", "ftready sync"), ("naive", "naive pandas")):
            if name in a:
                m = a[name]
                rows.append([
                    entry.table.backend, size, label, f"{m.seconds:.2f}", _runs(m), f"{m.median('cpu_seconds'):.2f}",
                    _mb(m.rss), f"{m.seconds / a['bare'].seconds:.2f} ×", f"{m.rss / a['sync'].rss:.1f} ×",
                ])  # fmt: skip
        calls = [a[name].last("calls") if name in a else None for name in ("bare", "sync", "naive")]
        agree = "yes" if len({c for c in calls if c is not None}) == 1 else "**NO**"
        store = a["sync"].last("store_bytes")
        checks.append([
            entry.table.backend, size, *("-" if c is None else f"{c:,}" for c in calls),
            f"{a['sync'].last('rollup_rows'):,}", "-" if store is None else f"{store / 2**20:.1f} MB", agree,
        ])  # fmt: skip
    return [
        f"### B1 full sync (backfill; median of {options.runs} runs, naive pandas {options.naive_runs})",
        "",
        *_table(["backend", "rows", "approach", "median s", "runs (s)", "process CPU s", "peak RSS MB", "time vs bare",
                 "RSS vs sync"], rows),  # fmt: skip
        "",
        "Calls counted by each approach (all three must agree), and what the sync stored:",
        "",
        *_table(["backend", "rows", "bare", "sync", "naive", "rollup rows", "SQLite store", "agree"], checks),
        "",
    ]


def _b2_lines(report: Report, entries: list[TableRun]) -> list[str]:
    rows = []
    for entry in entries:
        a = entry.approaches
        for mode in ("ingested", "lookback"):
            m = a[f"incremental_{mode}"]
            share = f"{m.seconds / a['sync'].seconds:.1%}" if "sync" in a else "-"
            rows.append([
                entry.table.backend, _rows_label(entry.table.rows), f"{entry.appended:,}", mode, str(m.last("days")),
                f"{m.seconds:.3f}", _runs(m, 3), _mb(m.rss), share,
            ])  # fmt: skip
    header = [
        "backend", "rows", "new rows", "mode", "days recomputed", "median s", "runs (s)", "peak RSS MB", "of backfill",
    ]  # fmt: skip
    return [
        f"### B2 incremental sync a day later, after 1 % new rows (median of {report.options.runs} runs)",
        "",
        *_table(header, rows),
        "",
    ]


def _store_case_lines(report: Report, case: str, title: str) -> list[str]:
    measured, counts = report.store_cases[case]
    header = ["median s", "runs (s)", "peak RSS MB"]
    row = [f"{measured.seconds:.3f}", _runs(measured, 3), _mb(measured.rss)]
    if case == "report":
        header += ["HTML size", "JSON size"]
        row += [f"{measured.median(key) / 2**20:.2f} MB" for key in ("html_bytes", "json_bytes")]
    return [
        f"### {title} ({measured.last('workloads')} workloads, {report.options.eval_days} days: "
        f"{counts['rollup_rows']:,} rollup rows, {counts['examples']:,} labeled examples)",
        "",
        *_table(header, [row]),
        "",
    ]


def figures(report: Report) -> list[str]:
    """The figure tables (printed, and the middle of RESULTS.md)."""
    lines: list[str] = []
    if b1 := [e for e in report.tables if "sync" in e.approaches]:
        lines += _b1_lines(report, b1)
    if b2 := [e for e in report.tables if "incremental_ingested" in e.approaches]:
        lines += _b2_lines(report, b2)
    for case, title in (("evaluate", "B3 evaluate"), ("report", "B4 weekly report")):
        if case in report.store_cases:
            lines += _store_case_lines(report, case, title)
    if targets := _targets(report):
        rows = [list(target) for target in targets]
        lines += ["### Targets (ratios from this run)", "", *_table(["target", "measured", "result"], rows), ""]
    return lines


def machine() -> list[str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [f"- CPU: {cpu}, {os.cpu_count()} cores", f"- RAM: {memory:.1f} GiB", f"- OS: {platform.platform()}"]


def versions(options: Options) -> list[str]:
    import duckdb
    import pandas
    import sqlalchemy

    out = [
        f"- Python {platform.python_version()}", f"- SQLAlchemy {sqlalchemy.__version__}",
        f"- pandas {pandas.__version__}", f"- DuckDB {duckdb.__version__}",
    ]  # fmt: skip
    if "postgresql" in options.backends:
        engine = sqlalchemy.create_engine(options.postgres_url)
        with engine.connect() as conn:
            out.append(f"- PostgreSQL {conn.exec_driver_sql('SHOW server_version').scalar()}")
            settings = dict(conn.exec_driver_sql(
                "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN "
                "('shared_buffers', 'work_mem', 'max_parallel_workers_per_gather', 'jit')"
            ).all())  # fmt: skip
        engine.dispose()
        out.append("  (" + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())) + ", server defaults)")
    import psycopg

    out.append(f"- psycopg {psycopg.__version__}")
    return out


def results_markdown(report: Report, command: str) -> str:
    options = report.options
    lines = [
        "# ftready benchmark results",
        "",
        f"Written by `{command}` on {report.started:%Y-%m-%d %H:%M} UTC; the run took {report.seconds / 60:.1f} min.",
        "Every figure below was measured in that run; ratios compare figures of the same run.",
        "",
        "## Machine",
        "",
        *machine(),
        f"- load average (1/5/15 min) before: {' / '.join(f'{v:.2f}' for v in report.load_before)}, "
        f"after: {' / '.join(f'{v:.2f}' for v in report.load_after)} (the machine is shared; see notes)",
        "",
        "## Versions",
        "",
        *versions(options),
        "",
        "## Tables",
        "",
        "13 months of calls up to the fixed clock "
        f"{NOW:%Y-%m-%d %H:%M} UTC; 50 workloads (Zipf-like), 15 models, time-ordered with 4× growth; "
        "generated inside the warehouse by `bench/data.py`.",
        "",
        *_table(
            ["backend", "table", "rows", "build"],
            [
                [e.table.backend, e.table.qualified, f"{e.table.rows:,}",
                 "reused" if e.build_seconds is None else f"built in {e.build_seconds:.1f} s"]
                for e in report.tables
            ],  # fmt: skip
        ),
        "",
        "## Figures",
        "",
        "Wall time is the measured call alone, inside a fresh child process; process CPU is that process's",
        "CPU time over the same call (all threads: ftready's own work on PostgreSQL, ftready and the embedded",
        "engine on DuckDB); peak RSS is its high-water mark (VmHWM), interpreter and imports included.",
        "The sync writes a SQLite state store.",
        "",
        *figures(report),
    ]
    if report.pending:
        lines += ["## Pending", ""] + [f"- {p.case}: {p.reason}" for p in report.pending] + [""]
    if NOTES.exists():
        lines += [NOTES.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(lines)


# -- command line -----------------------------------------------------------------------------------


def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    value = int(float(text[:-1] if factor != 1 else text) * factor)
    if value < 100:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 100 rows")
    return value


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    parser.add_argument(
        "--naive-runs", type=int, default=1,
        help="runs of the naive pandas case, at most --runs (default 1: minutes and ~10 GB each at 10M rows)",
    )  # fmt: skip
    parser.add_argument("--rebuild", action="store_true", help="rebuild the bench tables even when intact ones exist")
    parser.add_argument("--sizes", default="1m,10m", help="table sizes, comma-separated (default 1m,10m)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="postgresql,duckdb (default both)")
    parser.add_argument("--cases", default=",".join(ALL_CASES), help="b1,b2,b3,b4 (default all)")
    parser.add_argument("--postgres-url", default=os.environ.get("FTREADY_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--data-dir", type=Path, default=Options.data_dir, help="where the DuckDB warehouse file lives")
    parser.add_argument("--output", type=Path, default=Options.output, help="results file (default bench/RESULTS.md)")
    parser.add_argument("--no-output", action="store_true", help="print only; do not write the results file")
    parser.add_argument("--eval-workloads", type=int, default=200)
    parser.add_argument("--eval-days", type=int, default=730)
    parser.add_argument("--report-workloads", type=int, default=50)
    args = parser.parse_args(argv)
    backends = tuple(b for b in args.backends.split(",") if b)
    cases = tuple(c for c in args.cases.lower().split(",") if c)
    if unknown := [b for b in backends if b not in BACKENDS] + [c for c in cases if c not in ALL_CASES]:
        parser.error(f"unknown backend or case: {', '.join(unknown)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return Options(
        runs=args.runs,
        naive_runs=min(args.naive_runs, args.runs),
        sizes=tuple(sorted(parse_size(s) for s in args.sizes.split(",") if s)),
        backends=backends,
        cases=cases,
        rebuild=args.rebuild,
        postgres_url=args.postgres_url,
        data_dir=args.data_dir,
        output=None if args.no_output else args.output,
        eval_workloads=args.eval_workloads,
        eval_days=args.eval_days,
        report_workloads=args.report_workloads,
    )


def _say(*parts: Any, end: str = "\n") -> None:
    print(*parts, end=end, flush=True)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ftready-bench-") as work:
        report = run(options, Path(work), say=_say)
    print()
    print("\n".join(figures(report)))
    if options.output is not None:
        command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
        options.output.write_text(results_markdown(report, command.strip()), encoding="utf-8")
        print(f"wrote {options.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
