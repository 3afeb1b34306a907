"""Per-stage wall and CPU time of ``hccrisk reproduce zhao2024`` (CPU of this process and every descendant,
reaped or live, read from /proc: `/usr/bin/time` misses the radiomics workers' children).

    .venv/bin/python bench/zhao2024_stages.py COHORT INGEST OUT [WORKERS]

Runs ``hccrisk.reproduce.zhao2024.run`` with its stage functions wrapped in timers; prints each stage as it
ends (with the load average: the machine may be shared) and writes OUT/profile.json. The figures of
issue 5's speed work are in docs/papers/zhao2024.md.
"""
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    # fields after comm: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17)
    return int(rest[1]), sum(int(x) for x in rest[11:15]) / TICK


def tree_cpu():
    """CPU seconds of this process and all its descendants (live ones, plus the reaped ones via c*time)."""
    me = os.getpid()
    parents = {}
    cpu = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid, c = _stat(int(d))
            except (OSError, ValueError):
                continue
            parents[int(d)] = ppid
            cpu[int(d)] = c
    total, todo = 0.0, [me]
    while todo:
        p = todo.pop()
        total += cpu.get(p, 0.0)
        todo += [c for c, pp in parents.items() if pp == p]
    return total


stages = []


class stage:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.w, self.c = time.perf_counter(), tree_cpu()

    def __exit__(self, *a):
        w, c = time.perf_counter() - self.w, tree_cpu() - self.c
        stages.append({"stage": self.name, "wall_s": round(w, 1), "cpu_s": round(c, 1)})
        print(f"[profile] {self.name}: wall {w:.1f} s, cpu {c:.1f} s, load {os.getloadavg()[0]:.2f}", flush=True)


def timed(module, attr, label):
    fn = getattr(module, attr, None)
    if fn is None:
        return

    def wrapper(*a, **k):
        name = label(a, k) if callable(label) else label
        with stage(name):
            return fn(*a, **k)
    setattr(module, attr, wrapper)


def main():
    cohort, ingest, out = map(Path, sys.argv[1:4])
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else None
    t_all, c_all = time.perf_counter(), tree_cpu()
    with stage("imports"):
        import hccrisk.reproduce.zhao2024 as z
        import hccrisk.reproduce.zhao2024_dl as zdl
        import hccrisk.reproduce.common as common
        import hccrisk.reproduce.report as report
        import torch  # noqa
    try:
        import hccrisk.reproduce.zhao2024_parallel as zp
        timed(zp, "tumour_masks", "masks (both observers, parallel)")
        timed(zp, "network_inputs", "DL inputs (parallel)")
        timed(zp.PendingArms, "result", lambda a, k: "collect trainings " + ", ".join(j["depth"] + (" DLRCR" if j.get("tabular") is not None else "") for j in a[0].jobs))
        timed(zdl, "start_resnets", "start ResNet workers")
    except ImportError:
        pass
    timed(z, "ingested_tumour_masks", lambda a, k: f"masks {a[2]} {len(a[3])} phases")
    timed(z, "extract_phase_features", lambda a, k: f"radiomics {len(a[1])} patients")
    timed(zdl, "cohort_inputs", "DL inputs")
    timed(z, "_fit_selection", "selection (ICC, test, |r|, LASSO)")
    timed(zdl, "train_arm", lambda a, k: f"train {a[3]}" + (" DLRCR" if k.get("tabular") is not None else ""))
    timed(zdl, "score_cam_example", "Score-CAM")
    timed(z, "_score_shap", "SHAP")
    timed(report, "write_zhao2024_report", "report")
    with stage("run() total"):
        z.run(cohort, out, ingest_dir=ingest, seed=0, workers=workers)
    total = {"stage": "process total", "wall_s": round(time.perf_counter() - t_all, 1),
             "cpu_s": round(tree_cpu() - c_all, 1)}
    stages.append(total)
    print(json.dumps(stages, indent=1))
    (out / "profile.json").write_text(json.dumps({"stages": stages, "load_end": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
