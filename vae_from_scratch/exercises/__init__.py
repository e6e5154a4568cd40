"""Coursework: exercises with stubs, hints and an autograder.

Each exercise asks for one kernel of the package, written again from scratch: the
backward pass of a dense layer, a convolution, the KL term of the ELBO, the IWAE
bound, …  A student copies the exercise's stub (a .py file in exercises/stubs/ whose
docstrings state the task, the shapes and the equation), fills in the body, and runs
the grader, which checks the function against finite differences and against the
package's own implementation over shapes chosen to break the usual mistakes, in a
child process that it stops after 10 s a case (grading.py says why and how):

    python -m vae_from_scratch.exercises list
    python -m vae_from_scratch.exercises stub conv2d_forward > my_conv.py
    python -m vae_from_scratch.exercises hint conv2d_forward
    python -m vae_from_scratch.exercises check conv2d_forward --file my_conv.py

One module per exercise (conv2d_forward.py, …) holds its title, chapter, hint,
reference functions and graded cases; grading.py holds what they share.  From Python:

    from vae_from_scratch.exercises import get_exercise
    report = get_exercise("conv2d_forward").grade_file("my_conv.py")
    print(report.format()); report.passed
"""

import functools
import pathlib
from dataclasses import dataclass
from types import ModuleType

from . import (aevb_step, bernoulli_log_likelihood, conv2d_backward, conv2d_forward,
               conv_transpose2d, dense_backward, dual_vae_loss, elbo, gaussian_kl, iwae_bound,
               log_likelihood_is, max_pool2d_backward, reparameterize, score_function,
               vq_quantize)
from .grading import DEFAULT_TIMEOUT, Report, load_file, run_in_child

STUB_DIR = pathlib.Path(__file__).resolve().parent / "stubs"

# The chapters (docs/design.md, "Chapters") that the exercises follow: title, folder
# (the last section of each ends with the commands of its exercises).
CHAPTERS = {
    "ch02": ("latent variable models", "chapters/ch02_latent_variable_models/"),
    "ch03": ("KL divergence", "chapters/ch03_kl_divergence/"),
    "ch05": ("gradient estimators", "chapters/ch05_gradient_estimators/"),
    "ch06": ("neural networks", "chapters/ch06_neural_networks/"),
    "ch07": ("the VAE", "chapters/ch07_vae/"),
    "ch08": ("CNN", "chapters/ch08_cnn/"),
    "ch09": ("the dual VAE", "chapters/ch09_dual_vae/"),
    "ch10": ("beyond the VAE", "chapters/ch10_beyond/"),
}

# In the order a course would take them: the network first, then the probability.
_MODULES = (dense_backward, conv2d_forward, conv2d_backward, max_pool2d_backward,
            conv_transpose2d, gaussian_kl, reparameterize, score_function,
            bernoulli_log_likelihood, elbo, aevb_step, dual_vae_loss, log_likelihood_is,
            iwae_bound, vq_quantize)


@dataclass(frozen=True)
class Exercise:
    """One exercise, read from its module: NAME, CHAPTER, TITLE, EQUATIONS, FUNCTIONS,
    HINT, REFERENCE ({function name: the package's implementation}) and cases()."""

    module: ModuleType

    @property
    def name(self):
        return self.module.NAME

    @property
    def chapter(self):
        return self.module.CHAPTER

    @property
    def chapter_title(self):
        return f"{self.chapter} {CHAPTERS[self.chapter][0]}"

    @property
    def chapter_script(self):
        return CHAPTERS[self.chapter][1]

    @property
    def title(self):
        return self.module.TITLE

    @property
    def equations(self):
        return self.module.EQUATIONS

    @property
    def functions(self):
        return tuple(self.module.FUNCTIONS)

    @property
    def hint(self):
        return self.module.HINT.strip()

    @property
    def stub_path(self):
        return STUB_DIR / f"{self.name}.py"

    def stub_text(self):
        return self.stub_path.read_text(encoding="utf-8")

    def heading(self):
        return f"{self.title} ({self.chapter_title}; {self.equations})"

    def cases(self):
        return self.module.cases()

    def grade(self, functions, source="<functions>", path=None, timeout=DEFAULT_TIMEOUT):
        """Grade {function name: callable} in a child process, at most `timeout` seconds a
        case; returns a Report (never raises).  Where the child is spawned rather than
        forked (not on Linux), the functions must be picklable: defined at module level."""
        return self._grade(functools.partial(dict, functions), source, path, timeout)

    def grade_file(self, path, timeout=DEFAULT_TIMEOUT):
        """Grade the functions of the file at `path`, which the child process imports."""
        return self._grade(load_file(path, self.functions), str(path), path, timeout)

    def grade_reference(self, timeout=DEFAULT_TIMEOUT):
        """Grade the package's own implementation (it must pass every case)."""
        return self.grade(self.module.REFERENCE, "the package's reference implementation",
                          timeout=timeout)

    def _grade(self, load, source, path, timeout):
        results, load_error = run_in_child(self.cases(), self.functions, load, path, timeout)
        return Report(self.name, source, self.heading(), results, load_error)


EXERCISES = {module.NAME: Exercise(module) for module in _MODULES}


def get_exercise(name):
    """The Exercise called `name`; KeyError listing the names if there is none."""
    try:
        return EXERCISES[name]
    except KeyError:
        raise KeyError(f"no exercise {name!r}; the exercises are: {', '.join(EXERCISES)}") from None


__all__ = ["EXERCISES", "CHAPTERS", "Exercise", "Report", "get_exercise"]
