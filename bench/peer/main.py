"""PyTorch peer benchmarks for equisphere. Run with Debian's /usr/bin/python3 (python3-torch).

    /usr/bin/python3 bench/peer/main.py --case NAME [--threads N] [--quick]
    /usr/bin/python3 bench/peer/main.py --list

Prints one JSON object on stdout: {"case", "ok", "torch", "threads", "metrics", "notes",
"peak_rss_mb", "wall_s", "load_average", "environment"}. Each case is meant to run in its own
process so that peak_rss_mb (resource.getrusage ru_maxrss, which includes the interpreter and
torch) belongs to that case.

Threads: torch.set_num_threads(N), and OMP_NUM_THREADS / OPENBLAS_NUM_THREADS = N before torch is
imported (Debian's torch calls OpenBLAS, whose own pool would otherwise use every core).
OMP_WAIT_POLICY defaults to PASSIVE: with OpenMP's spinning waits, a machine shared with other
work slows torch's parallel regions by an order of magnitude. load_average (os.getloadavg at
start and end) tells how busy the machine was.
Times are wall-clock milliseconds per call after warm-up: the median and the minimum of the
repeats. Inference runs in eval mode under torch.no_grad(); a training step is forward, cross
entropy, backward and Adam.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True   # no __pycache__ beside the sources


def _threads_from_argv(default=2):
    """--threads N, read before argparse so the environment is set before torch loads."""
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg == '--threads' and i + 1 < len(argv) and argv[i + 1].isdigit():
            return int(argv[i + 1])
        if arg.startswith('--threads=') and arg[10:].isdigit():
            return int(arg[10:])
    return default


THREADS = _threads_from_argv()
os.environ['OMP_NUM_THREADS'] = str(THREADS)
os.environ['OPENBLAS_NUM_THREADS'] = str(THREADS)
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import torch  # noqa: E402

import cnn  # noqa: E402
import s2cnn  # noqa: E402
import selfcheck  # noqa: E402


def measure(fn, min_repeats=3, max_repeats=50, budget_s=3.0, warmup=1):
    """Runs fn `warmup` times, then repeats it until budget_s has passed (within the repeat
    bounds). Returns {'median_ms', 'min_ms', 'repeats'}."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < max_repeats and (len(times) < min_repeats
                                        or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {'median_ms': 1e3 * statistics.median(times), 'min_ms': 1e3 * min(times),
            'repeats': len(times)}


def budget(args, seconds):
    return seconds / 4 if args.quick else seconds


# ------------------------------------------------------------------------------------------------
# Matrix products


def case_matmul_1024(args):
    n = 1024
    a, b = torch.randn(n, n), torch.randn(n, n)
    t = measure(lambda: torch.mm(a, b), budget_s=budget(args, 3.0))
    return {'matmul_1024': {**t, 'gflops': 2 * n ** 3 / (t['median_ms'] * 1e6)}}, ''


def case_bmm_small(args):
    batch, m, k, n = 1000, 21, 21, 64
    a, b = torch.randn(batch, m, k), torch.randn(batch, k, n)
    t = measure(lambda: torch.bmm(a, b), warmup=5, max_repeats=2000, budget_s=budget(args, 2.0))
    flops = 2 * batch * m * n * k
    return {'bmm_1000x21x21x64': {**t, 'gflops': flops / (t['median_ms'] * 1e6)}}, \
        'torch.bmm of [1000, 21, 21] by [1000, 21, 64]'


# ------------------------------------------------------------------------------------------------
# Models: training step, inference latency and throughput


def train_step_timing(model, inputs, targets, args, seconds):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()

    return measure(step, min_repeats=3, budget_s=budget(args, seconds))


def inference_timing(model, make_input, batches, args, seconds):
    """Latency at batch 1 and the best throughput (samples/s) over `batches`."""
    model.eval()
    results = {}
    with torch.no_grad():
        latency = measure(lambda: model(make_input(1)), min_repeats=3,
                          budget_s=budget(args, seconds))
        results['latency_b1'] = latency
        throughput = {}
        for batch in batches:
            x = make_input(batch)
            t = measure(lambda: model(x), min_repeats=2, max_repeats=20,
                        budget_s=budget(args, seconds / 2))
            throughput[str(batch)] = batch / (t['median_ms'] / 1e3)
        best = max(throughput, key=throughput.get)
        results['throughput'] = {'samples_per_s': throughput[best], 'best_batch': int(best),
                                 'by_batch': throughput}
    return results


def case_cnn218k_train(args):
    torch.manual_seed(0)
    model = cnn.SegmentationCNN()
    x = torch.randn(8, 1, 100, 100)
    y = torch.randint(0, 11, (8, 100, 100))
    t = train_step_timing(model, x, y, args, 6.0)
    return {'cnn218k_train_b8': t, 'parameters': cnn.parameter_count(model)}, \
        'segmentation CNN 218k with skips, batch 8, 1 x 100 x 100, Adam lr 1e-3'


def case_cnn218k_infer(args):
    torch.manual_seed(0)
    model = cnn.SegmentationCNN()
    t = inference_timing(model, lambda n: torch.randn(n, 1, 100, 100),
                         [1, 2, 4, 8, 16, 32, 64], args, 3.0)
    return {'cnn218k_infer': t, 'parameters': cnn.parameter_count(model)}, \
        'segmentation CNN 218k, eval mode, no_grad'


def case_s2cnn204k_train(args):
    torch.manual_seed(0)
    model = s2cnn.SegmentationS2CNN()
    x = torch.randn(1, 1, 100, 100)
    y = torch.randint(0, 11, (1, 100, 100))
    t = train_step_timing(model, x, y, args, 20.0)
    return {'s2cnn204k_train_b1': t, 'parameters': s2cnn.parameter_count(model)}, \
        'segmentation S2CNN 204k, batch 1, 1 x 100 x 100 (b = 50), Adam lr 1e-3'


def case_s2cnn204k_infer(args):
    torch.manual_seed(0)
    model = s2cnn.SegmentationS2CNN()
    t = inference_timing(model, lambda n: torch.randn(n, 1, 100, 100), [1, 2, 4, 8], args, 10.0)
    return {'s2cnn204k_infer': t, 'parameters': s2cnn.parameter_count(model)}, \
        'segmentation S2CNN 204k, eval mode, no_grad'


def case_s2cnn157k_train(args):
    torch.manual_seed(0)
    model = s2cnn.ClassificationS2CNN()
    x = torch.randn(8, 1, 60, 60)
    y = torch.randint(0, 10, (8,))
    t = train_step_timing(model, x, y, args, 10.0)
    return {'s2cnn157k_train_b8': t, 'parameters': s2cnn.parameter_count(model)}, \
        'classification S2CNN 156,882 params, batch 8, 1 x 60 x 60 (b = 30), Adam'


def case_s2cnn157k_infer(args):
    torch.manual_seed(0)
    model = s2cnn.ClassificationS2CNN()
    t = inference_timing(model, lambda n: torch.randn(n, 1, 60, 60),
                         [1, 2, 4, 8, 16, 32], args, 5.0)
    return {'s2cnn157k_infer': t, 'parameters': s2cnn.parameter_count(model)}, \
        'classification S2CNN 156,882 params, eval mode, no_grad (BatchNorm running stats)'


# ------------------------------------------------------------------------------------------------
# Transforms


def transforms_case(b):
    def run(args):
        channels = 11
        torch.manual_seed(0)
        s2_grid = torch.randn(channels, 2 * b, 2 * b)
        so3_grid = torch.randn(channels, 2 * b, 2 * b, 2 * b)
        # Build the tables outside the timings (setup).
        s2_spec = s2cnn.s2_forward(s2_grid, b)
        so3_spec = s2cnn.so3_forward(so3_grid, b)
        s2cnn.s2_inverse(s2_spec, b)
        s2cnn.so3_inverse(so3_spec, b)

        seconds = budget(args, 2.0)
        metrics = {}
        with torch.no_grad():
            metrics['s2_forward'] = measure(lambda: s2cnn.s2_forward(s2_grid, b), budget_s=seconds)
            metrics['s2_inverse'] = measure(lambda: s2cnn.s2_inverse(s2_spec, b), budget_s=seconds)
            metrics['so3_forward'] = measure(lambda: s2cnn.so3_forward(so3_grid, b),
                                             budget_s=seconds)
            metrics['so3_inverse'] = measure(lambda: s2cnn.so3_inverse(so3_spec, b),
                                             budget_s=seconds)
        return {f'transforms_b{b}': metrics}, (
            f'{channels} channels at bandwidth {b}, degrees l < {b}; real FFTs (torch.fft) and '
            'one dense Wigner product per (m, n) order pair (torch.bmm)')
    return run


def case_selfcheck(args):
    result = selfcheck.run()
    return {'selfcheck': result}, 'transform round trips, layers against closed forms, counts'


CASES = {
    'selfcheck': case_selfcheck,
    'matmul_1024': case_matmul_1024,
    'bmm_small': case_bmm_small,
    'cnn218k_train': case_cnn218k_train,
    'cnn218k_infer': case_cnn218k_infer,
    'transforms_b16': transforms_case(16),
    'transforms_b32': transforms_case(32),
    'transforms_b50': transforms_case(50),
    's2cnn157k_train': case_s2cnn157k_train,
    's2cnn157k_infer': case_s2cnn157k_infer,
    's2cnn204k_train': case_s2cnn204k_train,
    's2cnn204k_infer': case_s2cnn204k_infer,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--case', choices=sorted(CASES))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--quick', action='store_true', help='a quarter of the time budgets')
    parser.add_argument('--list', action='store_true')
    args = parser.parse_args()
    if args.list or args.case is None:
        print(json.dumps({'cases': list(CASES)}))
        return

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    start = time.perf_counter()
    try:
        metrics, notes = CASES[args.case](args)
        ok = not (args.case == 'selfcheck' and not metrics['selfcheck']['ok'])
        error = None
    except Exception as exc:  # reported in the JSON, so that one failing case does not hide others
        metrics, notes, ok, error = {}, '', False, f'{type(exc).__name__}: {exc}'

    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        'case': args.case,
        'ok': ok,
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'metrics': metrics,
        'notes': notes,
        'peak_rss_mb': usage.ru_maxrss / 1024,
        'wall_s': time.perf_counter() - start,
        'load_average': {'start': load_before[0], 'end': os.getloadavg()[0]},
        'environment': {name: os.environ.get(name) for name in
                        ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'OMP_WAIT_POLICY')},
    }
    if error is not None:
        out['error'] = error
    print(json.dumps(out))


if __name__ == '__main__':
    main()
