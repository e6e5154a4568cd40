"""The autograder's machinery: cases, checks, the report, and loading a student's file.

An exercise is a list of `Case`s.  A case builds its inputs from a seeded Generator,
calls the student's function(s) and checks what comes back in one of three ways:

* against the package's reference implementation (`compare`): same shape, same dtype,
  finite, and a normwise relative error ‖got − expected‖∞ / max(‖got‖∞, ‖expected‖∞)
  below a tolerance (the measure of vae_from_scratch.gradcheck.relative_error);
* against the definition of the derivative (`gradient_check`): central differences in
  float64 of the exact forward pass, through vae_from_scratch.gradcheck;
* against a property any correct answer has, written in the exercise's module (the
  adjoint identity of a transposed convolution, a Monte Carlo estimate of a KL or of a
  variance, a convolution computed by its definition with loops), so that grading the
  package's own implementation (`--reference`) checks it too.

A check that fails raises `Fail` with a message saying what is wrong and where (the
entry with the largest error, the shape that differs).  Everything the student's code
can do wrong (raise, return the wrong thing, return NaN, change its inputs) becomes
such a message for that one case, never a traceback that stops the grading.

The student's code runs in a child process (`ChildProcess`); the checks run here, in
the grader's own process, on the arrays that come back.  A case that keeps the child
busy longer than the time limit is stopped ("case 3: no answer after 10 s"), a child
that dies (sys.exit or os._exit, a signal, a crash) fails its case with what happened,
and either way the next case gets a fresh child.  A failure that reproduces one of
the usual mistakes, computed by the exercise on the same inputs (a flipped kernel, a
missing ½), is named in the message.
"""

import contextlib
import functools
import importlib.util
import inspect
import io
import math
import multiprocessing
import pathlib
import pickle
import signal
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..gradcheck import compare_gradients, numerical_gradient, relative_error

# Tolerances.  Two correct float64 implementations differ by summation order only,
# ~1e-15 relative; 1e-8 leaves room for any reasonable order and still rejects every
# real mistake (those give errors of order one).  Gradient checks use the package's
# tolerance (gradcheck.py explains the 1e-6).  float32 carries 7 digits.
TOL_FLOAT64 = 1e-8
TOL_FLOAT32 = 1e-4
TOL_GRADCHECK = 1e-6

# How long the student's code may run in one case.  A loop-by-loop solution needs well
# under a second for any case here; 10 s leaves room for a slow machine and still ends
# an endless loop soon enough (the command line's --timeout changes it).
DEFAULT_TIMEOUT = 10.0

# "fork" starts a child in milliseconds, with the package already imported.  Elsewhere
# (macOS, Windows) fork is unsafe or missing, and "spawn" starts a fresh interpreter:
# everything handed to the child is picklable for that reason.
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"


class Fail(Exception):
    """A case failed: `message` says why, `error` is the measured error if there is one."""

    def __init__(self, message, error=None):
        super().__init__(message)
        self.message = message
        self.error = error


@dataclass
class Case:
    """One graded case.  run(student) returns the largest error it measured, or raises Fail.

    label: what the case is about ("stride 2, odd size"); shape: the inputs, in words.
    """

    label: str
    shape: str
    run: Callable


@dataclass
class CaseResult:
    label: str
    shape: str
    passed: bool
    error: Optional[float] = None
    message: str = ""


@dataclass
class Report:
    """The outcome of grading one exercise: one CaseResult per case, and the score."""

    exercise: str
    source: str
    heading: str
    results: list = field(default_factory=list)
    load_error: str = ""

    @property
    def score(self):
        return sum(r.passed for r in self.results)

    @property
    def total(self):
        return len(self.results)

    @property
    def passed(self):
        return self.total > 0 and self.score == self.total

    def failed_labels(self):
        return [r.label for r in self.results if not r.passed]

    def format(self):
        """The report the command line prints: a table, one message under each failure."""
        lines = [f"grading {self.exercise} from {self.source}", f"  {self.heading}", ""]
        if self.load_error:
            lines += [f"  could not use the file: {self.load_error}", ""]
        width_label = max([len("case")] + [len(r.label) for r in self.results])
        width_shape = max([len("shape")] + [len(r.shape) for r in self.results])
        lines.append(f"  {'#':>2}  {'case':<{width_label}}  {'shape':<{width_shape}}  "
                     f"{'max error':>9}  result")
        for i, r in enumerate(self.results, 1):
            error = "-" if r.error is None or not math.isfinite(r.error) else f"{r.error:.1e}"
            lines.append(f"  {i:>2}  {r.label:<{width_label}}  {r.shape:<{width_shape}}  "
                         f"{error:>9}  {'pass' if r.passed else 'FAIL'}")
            if not r.passed and r.message and not self.load_error:
                lines += [f"        {line}" for line in r.message.splitlines()]
        lines.append("")
        if self.passed:
            lines.append(f"score: {self.score}/{self.total}  all cases pass")
        else:
            first = next(i for i, r in enumerate(self.results, 1) if not r.passed)
            lines.append(f"score: {self.score}/{self.total}  first failing case: "
                         f"#{first} ({self.results[first - 1].label})")
        return "\n".join(lines)


# --- calling the student's code -------------------------------------------------------

class Student:
    """The functions under test, called so that nothing they do can crash the grader.

    student.conv2d_forward(x, w, b, 1, 0) passes *copies* of the array arguments (the
    grader's own arrays stay intact), silences floating-point warnings (an overflow
    shows up as inf or NaN in the output, which the checks report), turns any exception
    into Fail with the line of the student's file it came from, and fails if the
    function changed one of its array arguments in place.
    """

    def __init__(self, functions, path=None):
        self._functions = dict(functions)
        self._path = None if path is None else str(pathlib.Path(path).resolve())

    def __getattr__(self, name):
        functions = self.__dict__.get("_functions", {})
        if name not in functions:
            raise AttributeError(name)
        return lambda *args: self._call(name, functions[name], args)

    def _call(self, name, fn, args):
        copies = [_copy_arrays(a) for a in args]
        originals = [_copy_arrays(a) for a in args]
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = fn(*copies)
        except NotImplementedError:
            raise Fail(f"{name} is not implemented yet (it raises NotImplementedError)") from None
        except SystemExit as stop:
            raise Fail(f"{name} called {_exit_call(stop)}: a function must return its result, "
                       f"not end the program{self._where(stop)}") from None
        except BaseException as error:     # anything the student's code raises is a result
            raise Fail(f"{name} raised {type(error).__name__}: {error}{self._where(error)}") from None
        for position, (before, after) in enumerate(zip(originals, copies)):
            if not _same(before, after):
                params = _parameter_names(fn)
                what = params[position] if position < len(params) else f"argument {position + 1}"
                raise Fail(f"{name} changed its argument `{what}` in place; "
                           f"compute into a new array instead")
        return result

    def _where(self, error):
        """' (my_conv.py, line 12: out[n] = …)' for the deepest frame in the student's file."""
        frames = traceback.extract_tb(error.__traceback__)
        mine = [f for f in frames if self._path and str(pathlib.Path(f.filename).resolve()) == self._path]
        if not mine:
            return ""
        frame = mine[-1]
        code = f": {frame.line.strip()}" if frame.line else ""
        return f"\n({pathlib.Path(frame.filename).name}, line {frame.lineno}{code})"


def _exit_call(stop):
    """'sys.exit(0)' for the SystemExit that sys.exit(0) raised."""
    return f"sys.exit({'' if stop.code is None else repr(stop.code)})"


def _copy_arrays(a):
    if isinstance(a, np.ndarray):
        return a.copy()
    if isinstance(a, tuple):
        return tuple(_copy_arrays(x) for x in a)
    return a


def _same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return True


def _parameter_names(fn):
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


# --- checks ----------------------------------------------------------------------------

def outputs(result, names, who):
    """Unpack a tuple of len(names) results, or Fail saying what came back instead."""
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = (f"a {type(result).__name__} of length {len(result)}"
               if isinstance(result, (tuple, list)) else type(result).__name__)
        raise Fail(f"{who} should return {len(names)} values ({', '.join(names)}), got {got}")
    return tuple(result)


def forward_output(result, who):
    """A forward kernel returns (out, cache); the grader only needs out (a bare array is
    accepted too)."""
    if isinstance(result, (tuple, list)):
        if len(result) != 2:
            raise Fail(f"{who} should return (out, cache), got a {type(result).__name__} "
                       f"of length {len(result)}")
        return result[0]
    return result


def as_array(name, value):
    """value as an ndarray, or Fail (a list or None is a mistake; a Python float is fine)."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, bool):
        return np.asarray(value)
    raise Fail(f"{name} should be a NumPy array, got {type(value).__name__}")


def _index(name, flat_index, shape):
    if not shape:
        return name
    return f"{name}[{', '.join(str(int(i)) for i in np.unravel_index(flat_index, shape))}]"


def check_form(name, got, expected, dtype=True):
    """Shape, dtype and finiteness of `got` against `expected`; returns got as an array."""
    got = as_array(name, got)
    if got.shape != expected.shape:
        raise Fail(f"{name} has shape {got.shape}, expected {expected.shape}")
    if dtype and got.dtype != expected.dtype and not (got.ndim == 0 and expected.ndim == 0):
        raise Fail(f"{name} has dtype {got.dtype}, expected {expected.dtype} "
                   f"(the dtype of the inputs)")
    if not np.issubdtype(got.dtype, np.number):
        raise Fail(f"{name} has dtype {got.dtype}, expected a floating-point array")
    bad = ~np.isfinite(got) & np.isfinite(expected)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise Fail(f"{name} has {int(bad.sum())} non-finite entries where the answer is finite, "
                   f"first {_index(name, first, got.shape)} = {got.reshape(-1)[first]}")
    return got


def compare(name, got, expected, tol=None, mistakes=None):
    """Fail unless `got` matches `expected` in shape, dtype and value; returns the error.

    The error is normwise relative (see the module notes).  The message names the entry
    with the largest difference.  It names the mistake too when `got` is what one of
    `mistakes` outputs (see `name_mistake`), and otherwise says so when the whole answer
    is off by one factor (a sign, a ½, a sum where a mean belongs) or by one constant.
    """
    expected = np.asarray(expected)
    got = check_form(name, got, expected)
    if tol is None:
        tol = TOL_FLOAT32 if expected.dtype == np.float32 else TOL_FLOAT64
    if got.size == 0:
        return 0.0
    g, e = got.astype(np.float64), expected.astype(np.float64)
    finite = np.isfinite(e)
    if not np.array_equal(np.isfinite(g), finite) or not np.array_equal(g[~finite], e[~finite]):
        raise Fail(f"{name}: the non-finite entries differ from the expected ones")
    g, e = np.where(finite, g, 0.0), np.where(finite, e, 0.0)
    error = relative_error(g, e)
    if error > tol:
        worst = int(np.argmax(np.abs(g - e)))
        message = (f"{name}: relative error {error:.1e} (tolerance {tol:.0e}); largest difference at "
                   f"{_index(name, worst, g.shape)}: got {g.reshape(-1)[worst]:.6g}, "
                   f"expected {e.reshape(-1)[worst]:.6g}")
        raise Fail(message + (name_mistake(g, mistakes, tol) or _pattern(g, e)), error)
    return error


def compare_outputs(result, expected, who, tol=None, mistakes=None):
    """Unpack `result` into the outputs named by `expected` ({name: expected array}) and
    compare each (one output: `result` is the array itself).  Returns the largest error.

    mistakes: None, or a function of no arguments returning {output name: {hint: what
    the mistake outputs}}; an output it does not name has no known mistakes.
    """
    names = list(expected)
    got = outputs(result, names, who) if len(names) > 1 else (result,)
    return max(compare(name, value, expected[name], tol,
                       None if mistakes is None else (lambda name=name: mistakes().get(name, {})))
               for name, value in zip(names, got))


def name_mistake(got, mistakes, tol):
    """A line "(hint)" for the first of the usual mistakes that `got` reproduces, or "".

    mistakes: None, or a function of no arguments returning {hint: what that mistake
    outputs on the case's inputs}, computed by the exercise (the convolution with the
    kernel flipped, the KL without its ½, …).  It is called only once a case has
    failed, so that a passing grade costs nothing extra.  A mistake matches when it is
    as close to `got` as `tol` requires of a right answer.
    """
    if mistakes is None:
        return ""
    got = np.asarray(got, dtype=np.float64)
    for hint, wrong in mistakes().items():
        wrong = np.asarray(wrong, dtype=np.float64)
        if wrong.shape == got.shape and np.isfinite(wrong).all() and relative_error(got, wrong) <= tol:
            return f"\n({hint})"
    return ""


def _pattern(g, e):
    """A hint when got = c · expected, or got = expected + d, for one number c or d."""
    scale = max(float(np.abs(e).max()), float(np.abs(g).max()))
    if scale == 0:
        return ""
    if not np.any(g):
        return "\n(every entry is zero)"
    if np.any(e):
        c = float(np.sum(g * e) / np.sum(e * e))
        if abs(c - 1) > 1e-6 and relative_error(g, c * e) < 1e-6:
            if g.size > 1:
                return f"\n(every entry is {c:.4g} × the expected one)"
            # one number is always some multiple of another: say so only for a simple
            # one (−1, 2, ½, N: a sign, a factor 2, a sum where a mean belongs)
            if _simple(c) or _simple(1 / c):
                return f"\n(that is {c:.4g} × the expected value)"
    d = float(np.mean(g - e))
    if g.size > 1 and abs(d) > 1e-9 * scale and float(np.abs(g - e - d).max()) <= 1e-9 * scale:
        return f"\n(every entry is off by the same amount, {d:+.6g})"
    return ""


def _simple(c):
    return abs(c - round(c)) < 1e-9 * max(1.0, abs(c))


def gradient_check(loss, arrays, analytic, direction=None, tol=TOL_GRADCHECK, n_coords=None, rng=None):
    """Fail unless the student's gradients `analytic` agree with central differences.

    loss: function of no arguments computing the exact (reference) forward pass from
    the float64 arrays in `arrays`; with `direction` G it returns an array y and the
    scalar differentiated is Σ y ⊙ G (so the student's backward receives dout = G).
    analytic: {name: the student's gradient}.  Returns the largest relative error.
    """
    for name, a in arrays.items():
        analytic[name] = check_form(f"d{name}", analytic[name], a)
    result = compare_gradients(loss, arrays, analytic, direction=direction, tol=tol,
                               n_coords=n_coords, rng=rng)
    if result.max_error > tol:
        name = max(result.errors, key=result.errors.get)
        numeric = numerical_gradient(loss, arrays[name], direction=direction)
        exact = np.asarray(analytic[name], dtype=np.float64)
        worst = int(np.argmax(np.abs(exact - numeric)))
        message = (f"d{name}: relative error {result.errors[name]:.1e} against central differences "
                   f"(tolerance {tol:.0e}); largest at {_index('d' + name, worst, exact.shape)}: "
                   f"got {exact.reshape(-1)[worst]:.6g}, finite differences say "
                   f"{numeric.reshape(-1)[worst]:.6g}")
        message += _pattern(exact, numeric)
        others = [f"d{k} {v:.1e}" for k, v in result.errors.items() if k != name]
        if others:
            message += f"\n(the other gradients: {', '.join(others)})"
        raise Fail(message, result.max_error)
    return result.max_error


def inner(a, b):
    """⟨a, b⟩ = Σ a ⊙ b, in float64."""
    return float(np.sum(np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64)))


# --- running an exercise --------------------------------------------------------------

def run_cases(cases, student):
    """Run every case against `student` (a ChildProcess); never raises.  Returns a list
    of CaseResult."""
    results = []
    for number, case in enumerate(cases, 1):
        student.start_case(number)
        try:
            error = case.run(student)
            results.append(CaseResult(case.label, case.shape, True, error))
        except Fail as fail:
            results.append(CaseResult(case.label, case.shape, False, fail.error, fail.message))
        except Exception as error:     # the student's output broke a check: still their case
            results.append(CaseResult(case.label, case.shape, False, None,
                                      f"could not check the output: {type(error).__name__}: {error}"))
    return results


def load_functions(path, names):
    """Import the file at `path` and return {name: function} for `names`.

    Raises Fail with a readable message if the file is missing, does not import (a
    syntax error, an exception at import time), or lacks one of the functions.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise Fail(f"no such file: {path}")
    module_name = f"_exercise_submission_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None:                    # Python imports .py files (and a few other suffixes)
        raise Fail(f"{path.name} is not a Python file (.py)")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)          # the file may import a helper module next to it
    sys.modules[module_name] = module   # as an import would (dataclasses look it up)
    try:
        with _quiet():
            spec.loader.exec_module(module)
    except BaseException as error:     # whatever the file does at import time is its result
        del sys.modules[module_name]
        where = ""          # a SyntaxError's message already says where
        if not isinstance(error, SyntaxError):
            frames = [f for f in traceback.extract_tb(error.__traceback__)
                      if pathlib.Path(f.filename).resolve() == path.resolve()]
            if frames:
                where = f" (line {frames[-1].lineno})"
        if isinstance(error, SystemExit):
            raise Fail(f"importing {path.name} called {_exit_call(error)}{where}: a solution file "
                       f"defines functions, it does not end the program") from None
        raise Fail(f"importing {path.name} raised {type(error).__name__}: {error}{where}") from None
    finally:
        sys.path.remove(folder)
    missing = [n for n in names if not callable(getattr(module, n, None))]
    if missing:
        raise Fail(f"{path.name} defines no function {', '.join(missing)} "
                   f"(the exercise asks for {', '.join(names)})")
    return {n: getattr(module, n) for n in names}


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --- the child process ------------------------------------------------------------------

class ChildProcess:
    """The student's functions, run in a child process that the grader can stop.

    student.conv2d_forward(x, w, b, 1, 0) sends the call to the child, which loaded the
    functions itself (`load()`, a picklable function of no arguments returning {name:
    function}) and calls them through `Student` (copies of the arguments, exceptions
    and in-place changes turned into Fail).  What comes back is the function's result
    when it is made of arrays, numbers and tuples, lists or dicts of them, or a Fail.
    Nothing the student's code does can reach the grader: a hang is stopped after
    `timeout` seconds per case (the time of all the case's calls together), a child
    that dies fails its case with its exit code or signal, and after either the next
    call starts a fresh child.  The checks run here, on the results, so the student's
    code cannot change them either.  Use it as a context manager (the child is ended on
    exit); `start()` loads the functions, or raises Fail saying why it cannot.
    """

    def __init__(self, names, load, path=None, timeout=DEFAULT_TIMEOUT):
        self._names = tuple(names)
        self._load, self._path, self.timeout = load, path, timeout
        self._process = self._connection = None
        self._case, self._seconds_left = 0, timeout

    def __getattr__(self, name):
        if name.startswith("_") or name not in self.__dict__.get("_names", ()):
            raise AttributeError(name)
        return lambda *args: self._call(name, args)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def start(self):
        context = multiprocessing.get_context(START_METHOD)
        self._connection, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end, self._load, self._path),
                                        daemon=True)     # ended with the grader, whatever happens
        with warnings.catch_warnings():
            # Python ≥ 3.12 warns about fork when BLAS threads are running; the child
            # only calls NumPy and the student's code, which fork does not upset
            warnings.simplefilter("ignore", DeprecationWarning)
            self._process.start()
        child_end.close()
        what = f"importing {pathlib.Path(self._path).name}" if self._path else "loading the functions"
        try:
            self._answer(what, self.timeout)
        except Fail:
            self._stop()                   # so that the next call tries again, from the start
            raise

    def start_case(self, number):
        """The calls that follow belong to case `number`: its messages and its time."""
        self._case, self._seconds_left = number, self.timeout

    def close(self):
        """Ask the child to finish (it flushes what the student printed), then end it."""
        if self._process is not None and self._process.is_alive():
            with contextlib.suppress(OSError):
                self._connection.send(None)
            self._process.join(1.0)
        self._stop()

    def _call(self, name, args):
        if self._process is None:          # the first call, or the last child died
            self.start()
        started = time.monotonic()
        try:
            self._connection.send((name, args))
            return self._answer(f"case {self._case}", self._seconds_left)
        except OSError:                    # the pipe broke: the child is gone
            raise Fail(f"case {self._case}: {self._ended()}") from None
        finally:
            self._seconds_left -= time.monotonic() - started

    def _answer(self, what, seconds):
        """The child's answer, or Fail when it gives none in time, dies, or sends nonsense."""
        if not self._connection.poll(max(seconds, 0.0)):
            self._stop()
            raise Fail(f"{what}: no answer after {self.timeout:g} s; stopped it (an endless loop? "
                       f"the limit is --timeout SECONDS)")
        try:
            message = self._connection.recv_bytes()
        except (EOFError, OSError):
            raise Fail(f"{what}: {self._ended()}") from None
        try:
            status, value = _ArraysOnly(io.BytesIO(message)).load()
        except Exception as error:         # the child is the student's: it could send anything
            self._stop()
            raise Fail(f"{what}: the answer could not be read ({error})") from None
        if status != "ok":
            raise Fail(str(value))
        return value

    def _ended(self):
        """What became of a child that closed its end of the pipe."""
        self._process.join(1.0)
        code = self._process.exitcode
        self._stop()
        if code is None:
            return "the process stopped answering"
        if code < 0:
            return f"the process was killed by signal {_signal_name(-code)}"
        return f"the process ended with exit code {code} (did your code call sys.exit or os._exit?)"

    def _stop(self):
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join()
            self._connection.close()
        self._process = self._connection = None


# What a signal says about the student's code, for the common ones.
_SIGNAL_CAUSES = {"SIGKILL": "did your code kill its process, or use up the memory?",
                  "SIGSEGV": "a crash inside compiled code, such as an out-of-bounds ctypes access",
                  "SIGTERM": "did your code end its process?", "SIGABRT": "an abort in compiled code"}


def _signal_name(number):
    """'SIGKILL (did your code kill its process, …?)' for 9."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        return str(number)
    return f"{name} ({_SIGNAL_CAUSES[name]})" if name in _SIGNAL_CAUSES else name


def _serve(connection, load, path):
    """The child: load the functions, then answer calls (name, args) until sent None.

    Each answer is ("ok", value) or ("fail", message); the first one says whether the
    functions loaded.
    """
    try:
        student = Student(load(), path)
    except Fail as fail:
        connection.send(("fail", fail.message))
        return
    except Exception as error:             # a bug of the grader's, reported rather than printed
        connection.send(("fail", f"could not load the functions: {type(error).__name__}: {error}"))
        return
    connection.send(("ok", None))
    while True:
        try:
            request = connection.recv()
        except EOFError:                   # the grader is gone
            return
        if request is None:
            return
        name, args = request
        try:
            answer = ("ok", _plain(getattr(student, name)(*args), name))
        except Fail as fail:
            answer = ("fail", fail.message)
        try:
            connection.send(answer)
        except Exception as error:         # an array NumPy cannot pickle, say
            connection.send(("fail", f"{name}'s result could not be sent: {type(error).__name__}: {error}"))


def _plain(value, who):
    """value as arrays, numbers, strings, None and tuples/lists/dicts of them, which the
    grader reads back without running any of the student's code; Fail for anything else."""
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        return value
    if isinstance(value, (np.ndarray, np.generic)) and not value.dtype.hasobject:
        return np.asarray(value) if isinstance(value, np.ndarray) else value   # np.matrix → ndarray
    if isinstance(value, (tuple, list)):
        items = [_plain(item, who) for item in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {_plain(key, who): _plain(item, who) for key, item in value.items()}
    raise Fail(f"{who} returned a {type(value).__name__}; the grader reads NumPy arrays, numbers, "
               f"and tuples, lists or dicts of them")


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds arrays, NumPy scalars and complex numbers and nothing else
    (tuples, lists, dicts, strings and numbers need no class), so that whatever bytes a
    child sends run no code in the grader."""

    READABLE = {("numpy", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype"),
                ("numpy", "scalar"), ("builtins", "complex")}

    def find_class(self, module, name):
        if (module.split(".")[0], name) not in self.READABLE:
            raise pickle.UnpicklingError(f"{module}.{name} is not an array or a number")
        return super().find_class(module, name)


def run_in_child(cases, names, load, path=None, timeout=DEFAULT_TIMEOUT):
    """Grade `cases` against the functions `names` that `load()` returns, in a child.

    Returns (results, load_error): one CaseResult per case, and "" or the reason the
    functions could not be loaded (then every case fails with it).
    """
    with ChildProcess(names, load, path, timeout) as student:
        try:
            student.start()
        except Fail as fail:
            failed = [CaseResult(case.label, case.shape, False, None, fail.message) for case in cases]
            return failed, fail.message
        return run_cases(cases, student), ""


def load_file(path, names):
    """A picklable function of no arguments that loads `names` from the file at `path`."""
    return functools.partial(load_functions, path, tuple(names))


def describe_shapes(**arrays_and_values):
    """'x (2, 3, 7, 7), w (4, 3, 3, 3), s=2, p=1': the shape column of the report.
    Arrays are float64 unless the text ends in their dtype ('…, float32')."""
    parts, dtypes = [], set()
    for name, value in arrays_and_values.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{name} {value.shape}")
            dtypes.add(value.dtype)
        else:
            parts.append(f"{name}={value}")
    dtypes.discard(np.dtype(np.float64))
    return ", ".join(parts + sorted(str(d) for d in dtypes))


def hidden_seed():
    """A seed drawn when the cases are built, so that no answer can be written for its
    case in advance; the case prints it in its shape column, so that a failure can be
    reproduced.  Pass or fail must not depend on it (the tests check planted bugs on it)."""
    return int(np.random.SeedSequence().entropy % 2 ** 32)


__all__ = ["Case", "CaseResult", "ChildProcess", "Fail", "Report", "Student", "compare", "check_form",
           "hidden_seed", "compare_outputs", "name_mistake", "gradient_check", "outputs",
           "forward_output", "inner",
           "run_cases", "run_in_child", "load_functions", "load_file", "describe_shapes",
           "DEFAULT_TIMEOUT", "TOL_FLOAT64", "TOL_FLOAT32", "TOL_GRADCHECK"]
