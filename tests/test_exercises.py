"""The coursework's autograder, proven on known answers.

* Every untouched stub fails every case of its exercise, and the package's reference
  implementation passes every case.
* A solution written from scratch here (loops and NumPy, not the package) passes every
  case: the grader accepts any correct answer, not only the reference's arithmetic.
* Planted bugs — the usual mistakes: a missing transpose, a wrong sign, a wrong axis,
  log σ for log σ², a naive log(Σ exp) that overflows, a stride ignored, an assignment
  where overlapping windows must add — each fail exactly the cases they should, with a
  message on the failing case's line that says what is wrong, and names the mistake
  where it leaves a known pattern (a flipped kernel, a padding off by one, an average
  pool's gradient, a mean for log-mean-exp, the KL's ½, −1, log σ or mean over D).
* Every exercise's float32 case fails an answer that comes back in float64.
* Whatever the student's code does (raise, return None, NaN, change its inputs, not
  import at all) is reported per case, and the command line's exit codes say pass/fail.
  (What a file does to its process, hangs and crashes: test_exercises_isolation.py.)
"""

import pathlib
import subprocess
import sys
import textwrap

import pytest

from vae_from_scratch.exercises import CHAPTERS, EXERCISES, get_exercise
from vae_from_scratch.exercises.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]

# --- solutions written from scratch -------------------------------------------------------
# Each is a complete student file.  The planted bugs below are textual edits of these.

SOLUTIONS = {
    "dense_backward": """
        import numpy as np

        def dense_backward(dy, cache):
            x, w = cache
            dx = dy @ w
            dw = dy.T @ x
            db = dy.sum(axis=0)
            return dx, dw, db
    """,
    "conv2d_forward": """
        import numpy as np

        def conv2d_forward(x, w, b, stride, padding):
            N, C, H, W = x.shape
            F, _, k, _ = w.shape
            s, p = stride, padding
            x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
            Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
            out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
            for i in range(Ho):
                for j in range(Wo):
                    window = x_pad[:, :, i * s:i * s + k, j * s:j * s + k]
                    out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
            return out, (x, w, b, stride, padding)
    """,
    "conv2d_backward": """
        import numpy as np

        def conv2d_backward(dout, cache):
            x, w, b, s, p = cache
            N, C, H, W = x.shape
            F, _, k, _ = w.shape
            x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
            dx_pad = np.zeros_like(x_pad)
            dw = np.zeros_like(w)
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    g = dout[:, :, i, j]                                     # (N, F)
                    window = x_pad[:, :, i * s:i * s + k, j * s:j * s + k]
                    dw += np.tensordot(g, window, axes=([0], [0]))
                    dx_pad[:, :, i * s:i * s + k, j * s:j * s + k] += np.tensordot(g, w, axes=([1], [0]))
            dx = dx_pad[:, :, p:p + H, p:p + W]
            return dx, dw, dout.sum(axis=(0, 2, 3))
    """,
    "max_pool2d_backward": """
        import numpy as np

        def max_pool2d_backward(dout, cache):
            x, k, s = cache
            N, C, Ho, Wo = dout.shape
            dx = np.zeros_like(x)
            n, c = np.indices((N, C))
            for i in range(Ho):
                for j in range(Wo):
                    window = x[:, :, i * s:i * s + k, j * s:j * s + k].reshape(N, C, k * k)
                    u, v = np.unravel_index(window.argmax(axis=2), (k, k))
                    dx[n, c, i * s + u, j * s + v] += dout[:, :, i, j]
            return dx
    """,
    "conv_transpose2d": """
        import numpy as np

        def conv_transpose2d_forward(x, w, b, stride, padding, output_padding=(0, 0)):
            N, C, H, W = x.shape
            _, F, k, _ = w.shape
            s, p = stride, padding
            Ho = s * (H - 1) - 2 * p + k + output_padding[0]
            Wo = s * (W - 1) - 2 * p + k + output_padding[1]
            out = np.zeros((N, F, Ho + 2 * p, Wo + 2 * p), dtype=x.dtype)
            for i in range(H):
                for j in range(W):
                    block = np.tensordot(x[:, :, i, j], w, axes=([1], [0]))          # (N, F, k, k)
                    out[:, :, i * s:i * s + k, j * s:j * s + k] += block
            return out[:, :, p:p + Ho, p:p + Wo] + b[None, :, None, None], (x, w, stride, padding)
    """,
    "gaussian_kl": """
        import numpy as np

        def gaussian_kl(mu, logvar):
            return 0.5 * np.sum(np.exp(logvar) + mu ** 2 - 1 - logvar, axis=1)

        def gaussian_kl_backward(dkl, mu, logvar):
            g = dkl[:, None]
            return g * mu, g * 0.5 * (np.exp(logvar) - 1)
    """,
    "reparameterize": """
        import numpy as np

        def reparameterize(mu, logvar, eps):
            return mu + np.exp(0.5 * logvar) * eps

        def reparameterize_backward(dz, mu, logvar, eps):
            sigma = np.exp(0.5 * logvar)
            dmu, dlogvar = dz, dz * 0.5 * sigma * eps
            if dz.ndim == mu.ndim + 1:                    # K samples per example
                dmu, dlogvar = dmu.sum(axis=0), dlogvar.sum(axis=0)
            return dmu, dlogvar
    """,
    "score_function": """
        import numpy as np

        def score_function_gradient(f, z, mu, logvar):
            inv_var = np.exp(-logvar)
            d = z - mu
            score_mu = d * inv_var
            score_logvar = 0.5 * (d ** 2 * inv_var - 1)
            weight = f[..., None]
            return (weight * score_mu).mean(axis=0), (weight * score_logvar).mean(axis=0)
    """,
    "bernoulli_log_likelihood": """
        import numpy as np

        def bernoulli_log_likelihood(x, logits):
            softplus = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))
            return np.sum(x * logits - softplus, axis=tuple(range(1, x.ndim)))

        def bernoulli_log_likelihood_backward(dlogp, x, logits):
            e = np.exp(-np.abs(logits))
            sigmoid = np.where(logits >= 0, 1 / (1 + e), e / (1 + e))
            return dlogp.reshape((-1,) + (1,) * (x.ndim - 1)) * (x - sigmoid)
    """,
    "elbo": """
        import numpy as np

        def elbo(x, mu, logvar, eps, W, b):
            N = x.shape[0]
            sigma = np.exp(0.5 * logvar)
            z = mu + sigma * eps
            logits = z @ W.T + b
            softplus = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))
            rec = np.sum(x * logits - softplus, axis=1)
            kl = 0.5 * np.sum(np.exp(logvar) + mu ** 2 - 1 - logvar, axis=1)
            value = np.mean(rec - kl)
            dlogits = (x - 1 / (1 + np.exp(-logits))) / N
            dz = dlogits @ W
            grads = {
                "W": dlogits.T @ z,
                "b": dlogits.sum(axis=0),
                "mu": dz - mu / N,
                "logvar": dz * 0.5 * sigma * eps - 0.5 * (np.exp(logvar) - 1) / N,
            }
            return value, grads
    """,
    "iwae_bound": """
        import numpy as np

        def iwae_bound(log_w):
            m = log_w.max(axis=0)
            return m + np.log(np.mean(np.exp(log_w - m), axis=0))

        def iwae_bound_backward(dbound, log_w):
            e = np.exp(log_w - log_w.max(axis=0))
            return e / e.sum(axis=0) * dbound
    """,
    "log_likelihood_is": """
        import numpy as np

        def _log_weights(log_px_given_z, log_pz, log_qz):
            return log_px_given_z + log_pz - log_qz

        def log_likelihood_is(log_px_given_z, log_pz, log_qz):
            a = _log_weights(log_px_given_z, log_pz, log_qz)
            m = a.max(axis=0)
            return m + np.log(np.mean(np.exp(a - m), axis=0))

        def effective_sample_size(log_px_given_z, log_pz, log_qz):
            a = _log_weights(log_px_given_z, log_pz, log_qz)
            e = np.exp(a - a.max(axis=0))
            w = e / e.sum(axis=0)
            return 1 / np.sum(w ** 2, axis=0)
    """,
    "aevb_step": """
        import numpy as np

        def _softplus(l):
            return np.maximum(l, 0) + np.log1p(np.exp(-np.abs(l)))

        def aevb_step(params, x, eps, lr):
            W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
            W3, b3, W4, b4 = params["W3"], params["b3"], params["W4"], params["b4"]
            N, D = eps.shape
            h1 = np.tanh(x @ W1.T + b1)
            out = h1 @ W2.T + b2
            mu, logvar = out[:, :D], out[:, D:]
            sigma = np.exp(0.5 * logvar)
            z = mu + sigma * eps
            h3 = np.tanh(z @ W3.T + b3)
            logits = h3 @ W4.T + b4
            rec = np.sum(x * logits - _softplus(logits), axis=1)
            kl = 0.5 * np.sum(np.exp(logvar) + mu ** 2 - 1 - logvar, axis=1)
            elbo = np.mean(rec - kl)
            dlogits = (x - 0.5 * (1 + np.tanh(0.5 * logits))) / N
            da3 = (dlogits @ W4) * (1 - h3 ** 2)
            dz = da3 @ W3
            dmu = dz - mu / N
            dlogvar = dz * 0.5 * sigma * eps - 0.5 * (np.exp(logvar) - 1) / N
            dout = np.concatenate([dmu, dlogvar], axis=1)
            da1 = (dout @ W2) * (1 - h1 ** 2)
            grads = {"W1": da1.T @ x, "b1": da1.sum(axis=0), "W2": dout.T @ h1, "b2": dout.sum(axis=0),
                     "W3": da3.T @ z, "b3": da3.sum(axis=0), "W4": dlogits.T @ h3, "b4": dlogits.sum(axis=0)}
            new_params = {k: params[k] + lr * grads[k] for k in params}
            return elbo, grads, new_params
    """,
    "dual_vae_loss": """
        import numpy as np

        def _softplus(l):
            return np.maximum(l, 0) + np.log1p(np.exp(-np.abs(l)))

        def _sigmoid(l):
            return 0.5 * (1 + np.tanh(0.5 * l))

        def _terms(target, logits, mu, logvar):
            rec = (target * logits - _softplus(logits)).reshape(len(target), -1).sum(axis=1)
            kl = 0.5 * np.sum(np.exp(logvar) + mu ** 2 - 1 - logvar, axis=1)
            return rec, kl

        def dual_vae_loss(x, logits1, mu1, logvar1, g, logits2, mu2, logvar2, weight, weight_on):
            N = x.shape[0]
            w = weight
            w_kl2 = w if weight_on == "elbo" else 1.0
            rec1, kl1 = _terms(x, logits1, mu1, logvar1)
            rec2, kl2 = _terms(g, logits2, mu2, logvar2)
            loss = -np.mean(rec1 - kl1 + w * rec2 - w_kl2 * kl2)
            grads = {"logits1": -(x - _sigmoid(logits1)) / N, "mu1": mu1 / N,
                     "logvar1": 0.5 * (np.exp(logvar1) - 1) / N,
                     "logits2": -w * (g - _sigmoid(logits2)) / N, "mu2": w_kl2 * mu2 / N,
                     "logvar2": w_kl2 * 0.5 * (np.exp(logvar2) - 1) / N}
            return loss, {k: v.astype(x.dtype) for k, v in grads.items()}
    """,
    "vq_quantize": """
        import numpy as np

        def vq_quantize(z_e, codebook):
            d = ((z_e[:, :, None, :] - codebook) ** 2).sum(axis=3)
            indices = d.argmin(axis=2)
            return codebook[indices], indices

        def vq_backward(dz_q, z_e, codebook, indices, d_codebook, d_commitment):
            z_q = codebook[indices]
            dz_e = dz_q + 2 * d_commitment[:, None, None] * (z_e - z_q)
            dcodebook = np.zeros_like(codebook)
            values = 2 * d_codebook[:, None, None] * (z_q - z_e)
            np.add.at(dcodebook, indices.reshape(-1), values.reshape(-1, codebook.shape[1]))
            return dz_e, dcodebook
    """,
}


# The textbook recipe for a transposed convolution: spread the input out by the stride,
# pad by k − 1 − p, correlate.  Right only with the kernel flipped, w[..., ::-1, ::-1].
CONVT_NOT_FLIPPED = """
    import numpy as np

    def conv_transpose2d_forward(x, w, b, stride, padding, output_padding=(0, 0)):
        N, C, H, W = x.shape
        _, F, k, _ = w.shape
        s, p = stride, padding
        spread = np.zeros((N, C, s * (H - 1) + 1, s * (W - 1) + 1), dtype=x.dtype)
        spread[:, :, ::s, ::s] = x
        q = k - 1 - p
        spread = np.pad(spread, ((0, 0), (0, 0), (q, q + output_padding[0]), (q, q + output_padding[1])))
        kernel = w.transpose(1, 0, 2, 3)                      # (F, C, k, k), not flipped
        Ho, Wo = spread.shape[2] - k + 1, spread.shape[3] - k + 1
        out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
        for i in range(Ho):
            for j in range(Wo):
                window = spread[:, :, i:i + k, j:j + k]
                out[:, :, i, j] = np.tensordot(window, kernel, axes=([1, 2, 3], [1, 2, 3]))
        return out + b[None, :, None, None], None
"""


def write(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def plant(name, old, new):
    """The solution of `name` with one edit, which must apply exactly once
    (old = None: `new` is a whole file)."""
    if old is None:
        return new
    source = SOLUTIONS[name]
    assert source.count(old) == 1, f"the planted bug's text {old!r} is not in {name}'s solution once"
    return source.replace(old, new)


def labels(name):
    return [case.label for case in get_exercise(name).cases()]


# --- the registry -----------------------------------------------------------------------

def test_at_least_ten_exercises_each_following_its_chapter():
    assert len(EXERCISES) >= 15
    expected = {"dense_backward": "ch06", "conv2d_forward": "ch08", "conv2d_backward": "ch08",
                "max_pool2d_backward": "ch08", "conv_transpose2d": "ch08", "gaussian_kl": "ch03",
                "reparameterize": "ch05", "bernoulli_log_likelihood": "ch07", "elbo": "ch07",
                "iwae_bound": "ch10", "log_likelihood_is": "ch02", "aevb_step": "ch07",
                "dual_vae_loss": "ch09", "vq_quantize": "ch10"}
    for name, chapter in expected.items():
        assert EXERCISES[name].chapter == chapter
    assert {e.chapter for e in EXERCISES.values()} <= set(CHAPTERS)
    assert set(SOLUTIONS) == set(EXERCISES)


@pytest.mark.parametrize("name", list(EXERCISES))
def test_stub_states_the_task_and_cites_an_equation(name):
    """The stub is a real module with each function, its docstring citing the theory."""
    exercise = EXERCISES[name]
    namespace = {}
    exec(compile(exercise.stub_text(), str(exercise.stub_path), "exec"), namespace)
    for function in exercise.functions:
        doc = namespace[function].__doc__
        assert doc and "Arguments" in doc and "Returns" in doc
    text = exercise.stub_text()
    assert any(word in text for word in ("eq.", "Concept", "Definition")), "no equation cited"
    assert f"check {name} --file" in text and "raise NotImplementedError" in text
    assert len(exercise.hint) > 100
    assert len(exercise.cases()) >= 6


# --- stubs fail, references and from-scratch solutions pass ----------------------------

@pytest.mark.parametrize("name", list(EXERCISES))
def test_untouched_stub_fails_every_case(name):
    exercise = EXERCISES[name]
    report = exercise.grade_file(exercise.stub_path)
    assert report.total >= 6 and report.score == 0 and not report.passed
    assert all("NotImplementedError" in r.message for r in report.results)


@pytest.mark.parametrize("name", list(EXERCISES))
def test_reference_implementation_passes_every_case(name):
    report = EXERCISES[name].grade_reference()
    assert report.passed, report.format()
    assert all(r.error is not None for r in report.results)            # each measured something


@pytest.mark.parametrize("name", list(EXERCISES))
def test_solution_written_from_scratch_passes_every_case(name, tmp_path):
    report = EXERCISES[name].grade_file(write(tmp_path, name, SOLUTIONS[name]))
    assert report.passed, report.format()
    assert report.format().endswith("all cases pass")


# --- planted bugs ------------------------------------------------------------------------
# (exercise, bug, old text, new text, the cases that must fail (all others must pass),
#  a phrase the message of the first failing case must contain)

ALL = None     # every case fails

# the cases of gaussian_kl that check the KL itself, but for KL = 0 at q = p
KL_CASES = ["one example, one dimension", "a minibatch", "tiny and large variances", "means far from 0",
            "Monte Carlo: E_q[log q − log p]", "float32 stays float32"]
# the cases of iwae_bound that check the bound with K > 1 (where a mean and log-mean-exp differ)
IWAE_K_ABOVE_1 = ["K = 5, moderate log-weights", "log w near -2000: exp underflows",
                  "log w near +1000: exp overflows", "one weight dominates", "batch 1, K = 50",
                  "examples near -2000, 0, +1000", "float32 stays float32"]
# the cases of log_likelihood_is with K > 1 whose weights differ (where a mean of the
# log-weights and log-mean-exp differ)
LL_K_ABOVE_1 = ["K = 5, moderate log-weights", "batch 1, K = 200", "one weight dominates",
                "examples near -2000, 0, +1000", "objectives.log_likelihood on a small VAE",
                "q wider than the posterior: tends to log p(x)",
                "Example 11.5 from the prior: ESS counts z = A",
                "float32 stays float32", "a hidden seed, examples near -2000, 0, +1000"]
AEVB = labels("aevb_step")
DUAL = labels("dual_vae_loss")
VQ = labels("vq_quantize")

BUGS = [
    ("dense_backward", "missing transpose in dw", "dw = dy.T @ x", "dw = x.T @ dy",
     "all but 1x1", "dw has shape (7, 3), expected (3, 7)"),
    ("dense_backward", "db summed over the wrong axis", "db = dy.sum(axis=0)", "db = dy.sum(axis=1)",
     "all but 1x1", "db has shape"),
    ("conv2d_forward", "stride ignored in the window", "x_pad[:, :, i * s:i * s + k, j * s:j * s + k]",
     "x_pad[:, :, i:i + k, j:j + k]",
     ["stride 2, odd size", "stride 2, padding, not square", "stride 3 leaves a row out",
      "the encoder's first layer", "float32 stays float32", "by the definition, pixel by pixel"],
     "out: relative error"),
    ("conv2d_forward", "float64 output for float32 input", "out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)",
     "out = np.zeros((N, F, Ho, Wo))", ["float32 stays float32"],
     "out has dtype float64, expected float32"),
    ("conv2d_forward", "kernel flipped (convolution, not correlation)", "np.tensordot(window, w,",
     "np.tensordot(window, w[:, :, ::-1, ::-1],", ALL, "the textbook convolution, with the kernel flipped"),
    ("conv2d_forward", "padded by one pixel too many", "np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))",
     "np.pad(x, ((0, 0), (0, 0), (p + 1, p + 1), (p + 1, p + 1)))", ALL,
     "(every window is one pixel too far up and left: is the padding off by one?)"),
    ("conv2d_forward", "padded by one pixel too many, left and right only",
     "np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))", "np.pad(x, ((0, 0), (0, 0), (p, p), (p + 1, p + 1)))",
     ALL, "(every window is one pixel too far left: is the padding off by one?)"),
    ("conv2d_backward", "stride ignored in dx", "dx_pad[:, :, i * s:i * s + k, j * s:j * s + k] +=",
     "dx_pad[:, :, i:i + k, j:j + k] +=",
     ["gradient check, stride 2, padding 1", "gradient check, stride 3 skips pixels",
      "stride 2, padding, not square", "the encoder's first layer", "float32 stays float32"],
     "dx: relative error"),
    ("conv2d_backward", "padding not cropped from dx", "dx = dx_pad[:, :, p:p + H, p:p + W]", "dx = dx_pad",
     ["gradient check, stride 2, padding 1", "channels, padding 1", "stride 2, padding, not square",
      "5x5 kernel, padding 2", "the encoder's first layer", "float32 stays float32"],
     "dx has shape (2, 2, 7, 7), expected (2, 2, 5, 5)"),
    ("max_pool2d_backward", "= where overlapping windows must add", "dx[n, c, i * s + u, j * s + v] +=",
     "dx[n, c, i * s + u, j * s + v] =",
     ["3x3, stride 2: windows overlap", "3x3, stride 1: heavy overlap", "gradient check, overlapping"],
     "dx: relative error"),
    ("max_pool2d_backward", "gradient to the window's first entry, not its maximum",
     "window.argmax(axis=2)", "np.zeros((N, C), dtype=int)", ALL, "relative error"),
    ("max_pool2d_backward", "gradient spread over the window, as in average pooling",
     "dx[n, c, i * s + u, j * s + v] += dout[:, :, i, j]",
     "dx[:, :, i * s:i * s + k, j * s:j * s + k] += dout[:, :, i, j, None, None] / (k * k)", ALL,
     "(the gradient is spread evenly over each window, as in average pooling"),
    ("conv_transpose2d", "stride ignored", "out[:, :, i * s:i * s + k, j * s:j * s + k] +=",
     "out[:, :, i:i + k, j:j + k] +=",
     ["adjoint: the decoder's k4 s2 p1", "adjoint: stride 3 > kernel 2", "adjoint: k3 s2, odd size",
      "the decoder's layer, k4 s2 p1", "stride 3 > kernel 2: gaps", "output_padding (1, 0)",
      "float32 stays float32"],
     "not the adjoint of conv2d"),
    ("conv_transpose2d", "spread-and-correlate with the kernel not flipped", None, CONVT_NOT_FLIPPED,
     ALL, "(that is what the kernel not flipped gives: spreading x out by the stride and correlating"),
    ("gaussian_kl", "log σ read for log σ²",
     "0.5 * np.sum(np.exp(logvar) + mu ** 2 - 1 - logvar, axis=1)",
     "0.5 * np.sum(np.exp(2 * logvar) + mu ** 2 - 1 - 2 * logvar, axis=1)",
     KL_CASES, "(logvar read as log σ, which makes σ² = exp(2·logvar)"),
    ("gaussian_kl", "½ missing in the KL", "return 0.5 * np.sum(", "return np.sum(", KL_CASES,
     "(the ½ is missing: KL = ½ Σ_d"),
    ("gaussian_kl", "−1 missing in the KL", "mu ** 2 - 1 - logvar, axis=1)", "mu ** 2 - logvar, axis=1)",
     KL_CASES[:1] + ["q = p gives KL = 0"] + KL_CASES[1:], "(the −1 is missing: KL = ½ Σ_d"),
    ("gaussian_kl", "a mean over the latent dimensions", "0.5 * np.sum(np.exp(logvar)",
     "0.5 * np.mean(np.exp(logvar)", KL_CASES[1:], "(a mean over the latent dimensions: the KL is their sum"),
    ("gaussian_kl", "KL summed over the batch axis", "- logvar, axis=1)", "- logvar, axis=0)",
     ["q = p gives KL = 0", "a minibatch", "tiny and large variances", "means far from 0",
      "Monte Carlo: E_q[log q − log p]", "float32 stays float32"],
     "kl has shape (4,), expected (3,)"),
    ("gaussian_kl", "½ missing in dlogvar", "g * 0.5 * (np.exp(logvar) - 1)", "g * (np.exp(logvar) - 1)",
     ["one example, one dimension", "a minibatch", "tiny and large variances", "means far from 0",
      "gradient check", "gradient check, batch 1", "float32 stays float32"],
     "(the ½ is missing: KL = ½ Σ_d"),
    ("gaussian_kl", "−1 missing in dlogvar", "g * 0.5 * (np.exp(logvar) - 1)", "g * 0.5 * np.exp(logvar)",
     ["one example, one dimension", "a minibatch", "tiny and large variances", "means far from 0",
      "gradient check", "gradient check, batch 1", "float32 stays float32"], "(the −1 is missing"),
    ("reparameterize", "σ = exp(logvar)", "return mu + np.exp(0.5 * logvar) * eps",
     "return mu + np.exp(logvar) * eps",
     ["one example, one dimension", "a minibatch", "K = 4 samples per example",
      "Monte Carlo: mean mu, variance exp(logvar)", "float32 stays float32"], "z: relative error"),
    ("reparameterize", "the K samples not summed", "dmu, dlogvar = dmu.sum(axis=0), dlogvar.sum(axis=0)",
     "pass", ["K = 4 samples per example", "gradient check, K = 5 samples"],
     "dmu has shape (4, 3, 2), expected (3, 2)"),
    ("reparameterize", "wrong sign in dlogvar", "dz * 0.5 * sigma * eps", "-dz * 0.5 * sigma * eps",
     ["one example, one dimension", "a minibatch", "K = 4 samples per example", "gradient check",
      "gradient check, K = 5 samples", "float32 stays float32"],
     "(that is -1 × the expected value)"),
    ("score_function", "the score of log σ, not log σ²", "0.5 * (d ** 2 * inv_var - 1)",
     "(d ** 2 * inv_var - 1)", ALL, "(that is 2 × the expected value)"),
    ("score_function", "a sum over the samples, not the mean", "(weight * score_logvar).mean(axis=0)",
     "(weight * score_logvar).sum(axis=0)",
     ["K = 10 samples", "K = 7, batch 1", "unbiased: f(z) = |z|² by Monte Carlo",
      "float32 stays float32"], "dlogvar: relative error"),
    ("bernoulli_log_likelihood", "naive log(sigmoid)",
     "softplus = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))\n"
     "            return np.sum(x * logits - softplus, axis=tuple(range(1, x.ndim)))",
     "p = 1 / (1 + np.exp(-logits))\n"
     "            return np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=tuple(range(1, x.ndim)))",
     ["confident logits, up to ±1000", "examples near -1000, 0, +1000", "float32, confident logits"],
     "non-finite entries"),
    ("bernoulli_log_likelihood", "softplus shifted by the batch's largest logit",
     "softplus = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))",
     "m = logits.max()\n            softplus = m + np.log(np.exp(-m) + np.exp(logits - m))",
     ["confident logits, up to ±1000", "examples near -1000, 0, +1000"], "non-finite entries"),
    ("bernoulli_log_likelihood", "summed over one axis only", "axis=tuple(range(1, x.ndim))", "axis=1",
     ["NCHW images: sum over C, H, W"], "log_p has shape (2, 5, 5), expected (2,)"),
    ("elbo", "the gradient of the loss −ELBO", "return value, grads",
     "return value, {k: -g for k, g in grads.items()}", ALL, "(that is -1 × the expected value)"),
    ("elbo", "summed over the batch, not averaged", "value = np.mean(rec - kl)", "value = np.sum(rec - kl)",
     ["a minibatch", "D = P: a transpose shows", "a confident decoder: logits ±50", "float32 stays float32"],
     "(that is 8 × the expected value)"),
    ("elbo", "missing transpose in dW", '"W": dlogits.T @ z', '"W": z.T @ dlogits',
     "all but 1x1", "grads['W'] has shape (2, 12), expected (12, 2)"),
    ("iwae_bound", "naive log(mean(exp))", "return m + np.log(np.mean(np.exp(log_w - m), axis=0))",
     "return np.log(np.mean(np.exp(log_w), axis=0))",
     ["log w near -2000: exp underflows", "log w near +1000: exp overflows", "examples near -2000, 0, +1000",
      "float32 stays float32"],
     "bound has 3 non-finite entries where the answer is finite, first bound[0] = -inf"),
    ("iwae_bound", "one shift for the whole batch", "m = log_w.max(axis=0)", "m = log_w.max()",
     ["examples near -2000, 0, +1000"],     # exp(log w − 1000) underflows for the −2000 and the 0 example
     "bound has 2 non-finite entries where the answer is finite, first bound[0] = -inf"),
    ("iwae_bound", "log-sum-exp without the 1/K", "np.log(np.mean(np.exp(log_w - m), axis=0))",
     "np.log(np.sum(np.exp(log_w - m), axis=0))", IWAE_K_ABOVE_1,
     "(the 1/K is missing: log Σ_k w_k is log K more than log (1/K) Σ_k w_k)"),
    ("iwae_bound", "the mean of the log-weights, not log-mean-exp",
     "return m + np.log(np.mean(np.exp(log_w - m), axis=0))", "return np.mean(log_w, axis=0)", IWAE_K_ABOVE_1,
     "(that is the mean of the log-weights, the ELBO averaged over the K samples"),
    ("iwae_bound", "softmax over the batch axis", "return e / e.sum(axis=0) * dbound",
     "return e / e.sum(axis=1, keepdims=True) * dbound", ALL,
     "(every entry is 0.3333 × the expected one)"),
    ("log_likelihood_is", "the mean of the log-weights, not log-mean-exp",
     "return m + np.log(np.mean(np.exp(a - m), axis=0))", "return np.mean(a, axis=0)", LL_K_ABOVE_1,
     "(that is the mean of the log-weights, the average of K single-sample ELBOs"),
    ("log_likelihood_is", "log-sum-exp without the 1/K", "np.log(np.mean(np.exp(a - m), axis=0))",
     "np.log(np.sum(np.exp(a - m), axis=0))", LL_K_ABOVE_1[:5] + ["q = the exact posterior: exact, ESS = K"]
     + LL_K_ABOVE_1[5:], "(the 1/K is missing: log Σ_k w_k is log K more than log (1/K) Σ_k w_k)"),
    ("log_likelihood_is", "naive log(mean(exp))", "return m + np.log(np.mean(np.exp(a - m), axis=0))",
     "return np.log(np.mean(np.exp(a), axis=0))",
     ["one weight dominates", "examples near -2000, 0, +1000", "float32 stays float32",
      "a hidden seed, examples near -2000, 0, +1000"], "non-finite entries where the answer is finite"),
    ("log_likelihood_is", "one shift for the whole batch", "m = a.max(axis=0)", "m = a.max()",
     ["one weight dominates", "examples near -2000, 0, +1000",
      "a hidden seed, examples near -2000, 0, +1000"],
     "log_px has 1 non-finite entries where the answer is finite"),
    ("log_likelihood_is", "log q(z|x) added, not subtracted", "return log_px_given_z + log_pz - log_qz",
     "return log_px_given_z + log_pz + log_qz", ALL, "(log q(z|x) added: a weight is p(x|z) p(z) / q(z|x)"),
    ("log_likelihood_is", "Σ w̃² for the ESS, not its inverse", "return 1 / np.sum(w ** 2, axis=0)",
     "return np.sum(w ** 2, axis=0)", "all but 1x1", "(that is Σ_k w̃_k², the inverse of the ESS"),
    ("aevb_step", "the update goes down the ELBO", "params[k] + lr * grads[k]", "params[k] - lr * grads[k]",
     [label for label in AEVB if not label.startswith("gradient check")],
     "(the update went down the ELBO: Algorithm 2 climbs it"),
    ("aevb_step", "no gradient through the sampler to the encoder", "dz = da3 @ W3", "dz = 0 * (da3 @ W3)",
     [label for label in AEVB if not label.startswith("40 steps")],
     "(only the KL's gradient reached the encoder"),
    ("aevb_step", "the gradient of the loss −ELBO, and the update down it", "return elbo, grads, new_params",
     "return elbo, {k: -g for k, g in grads.items()}, new_params",
     [label for label in AEVB if not label.startswith("40 steps")], "(every entry is -1 × the expected one)"),
    ("aevb_step", "naive log(sigmoid)", "rec = np.sum(x * logits - _softplus(logits), axis=1)",
     "p = 1 / (1 + np.exp(-logits))\n"
     "            rec = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)",
     ["a confident decoder: logits near ±1000"], "elbo has 1 non-finite entries"),
    ("dual_vae_loss", "the weight left out", "w = weight\n", "w = 1.0\n", DUAL[:3] + DUAL[4:],
     "(the weight is missing: that is −mean(ELBO1 + ELBO2)"),
    ("dual_vae_loss", "the weight on ELBO1", "loss = -np.mean(rec1 - kl1 + w * rec2 - w_kl2 * kl2)",
     "loss = -np.mean(w * (rec1 - kl1) + rec2 - kl2)",
     [label for label in DUAL if not label.startswith(("w = 1:", "gradient check"))],
     "(the weight multiplies ELBO1; it belongs on ELBO2"),
    ("dual_vae_loss", "the weight on all of ELBO2 when it belongs on the reconstruction",
     'w_kl2 = w if weight_on == "elbo" else 1.0', "w_kl2 = w",
     ["w = 450 on the reconstruction only", "gradient check, w on the reconstruction",
      "a small DualVAE, w on the reconstruction", "a hidden seed"],
     "(the weight multiplies all of ELBO2; with weight_on = 'reconstruction'"),
    ("dual_vae_loss", "the weight on the reconstruction only when it belongs on ELBO2",
     'w_kl2 = w if weight_on == "elbo" else 1.0', "w_kl2 = 1.0",
     ["one example, one pixel each", "the thesis's shapes, w = 450 on ELBO2", "logits near -1000, 0, +1000",
      "gradient check, w on ELBO2", "a small DualVAE, w on ELBO2", "float32 stays float32"],
     "(the weight multiplies only ELBO2's reconstruction; with weight_on = 'elbo'"),
    ("vq_quantize", "the gradient through the argmin is zero", "dz_e = dz_q + 2 *", "dz_e = 0 * dz_q + 2 *",
     [label for label in VQ if not label.startswith("gradient check")],
     "(the decoder's gradient stopped at the argmin: straight-through passes dz_q on"),
    ("vq_quantize", "the decoder's gradient passed to the codebook", "return dz_e, dcodebook",
     "np.add.at(dcodebook, indices.reshape(-1), dz_q.reshape(-1, codebook.shape[1]))\n"
     "            return dz_e, dcodebook", [label for label in VQ if not label.startswith("gradient check")],
     "(the decoder's gradient dz_q went to the codebook too"),
    ("vq_quantize", "ties to the highest index", "indices = d.argmin(axis=2)",
     "indices = d.shape[2] - 1 - d[:, :, ::-1].argmin(axis=2)", ["ties go to the lowest index"],
     "the distances are equal: a tie goes to the lowest index, as argmin gives it"),
    ("vq_quantize", "an assignment where the codes' gradients must add",
     "np.add.at(dcodebook, indices.reshape(-1), values.reshape(-1, codebook.shape[1]))",
     "dcodebook[indices.reshape(-1)] = values.reshape(-1, codebook.shape[1])", "all but 1x1",
     "(a plain assignment keeps one vector per code: scatter-add (np.add.at)"),
]


def expected_failures(name, spec):
    everything = labels(name)
    if spec is ALL:
        return everything
    if spec == "all but 1x1":           # the 1×1 case cannot tell a transpose or an axis apart
        return everything[1:]
    return spec


@pytest.mark.parametrize("name,bug,old,new,failing,phrase", BUGS, ids=[f"{b[0]}: {b[1]}" for b in BUGS])
def test_planted_bug_fails_exactly_where_it_should(name, bug, old, new, failing, phrase, tmp_path):
    report = EXERCISES[name].grade_file(write(tmp_path, name, plant(name, old, new)))
    failing = expected_failures(name, failing)
    assert report.failed_labels() == failing, report.format()
    assert report.score == report.total - len(failing)
    # the report points at the failing case: its line says FAIL, the next line says why
    lines = report.format().splitlines()
    first = next(r for r in report.results if not r.passed)
    row = next(i for i, line in enumerate(lines) if f"  {first.label}  " in line)
    assert lines[row].endswith("FAIL")
    assert phrase in first.message, report.format()
    assert lines[row + 1].strip() == first.message.splitlines()[0]
    index = report.results.index(first) + 1
    assert lines[-1] == f"score: {report.score}/{report.total}  first failing case: #{index} ({first.label})"


def test_every_exercise_has_a_planted_bug():
    assert {bug[0] for bug in BUGS} == set(EXERCISES)


# The same planted bug in every exercise: each floating-point output array comes back
# as float64 (integer outputs, such as vq_quantize's indices, stay as they are).
UPCAST = """

def _float64(value):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(np.float64)
    if isinstance(value, (tuple, list)):
        return type(value)(_float64(v) for v in value)
    if isinstance(value, dict):
        return {k: _float64(v) for k, v in value.items()}
    return value


def _upcast(function):
    return lambda *args: _float64(function(*args))


for _name in FUNCTIONS:
    globals()[_name] = _upcast(globals()[_name])
"""


@pytest.mark.parametrize("name", list(EXERCISES))
def test_every_exercise_checks_that_float32_stays_float32(name, tmp_path):
    """A float32 case in every exercise, and it (only it) fails a float64 answer."""
    exercise = EXERCISES[name]
    source = textwrap.dedent(SOLUTIONS[name]) + f"\nFUNCTIONS = {exercise.functions!r}\n" + UPCAST
    report = exercise.grade_file(write(tmp_path, name, source))
    float32 = [case.label for case in exercise.cases() if case.shape.endswith("float32")]
    assert float32 and report.failed_labels() == float32, report.format()
    for result in report.results:
        if not result.passed:
            assert "has dtype float64, expected float32 (the dtype of the inputs)" in result.message


def test_a_float32_answer_to_float64_inputs_fails(tmp_path):
    source = plant("dense_backward", "return dx, dw, db",
                   "return dx.astype(np.float32), dw.astype(np.float32), db.astype(np.float32)")
    report = grade_source(tmp_path, "dense_backward", source)
    float64 = [label for label in labels("dense_backward") if "float32" not in label]
    assert report.failed_labels() == float64, report.format()
    assert "has dtype float32, expected float64" in report.results[0].message


# --- whatever the student's code does is reported per case -----------------------------

def grade_source(tmp_path, name, source):
    return EXERCISES[name].grade_file(write(tmp_path, name, source))


def test_a_syntax_error_fails_every_case_with_its_line(tmp_path):
    report = grade_source(tmp_path, "dense_backward", "def dense_backward(dy, cache)\n    pass\n")
    assert report.score == 0 and report.total == len(labels("dense_backward"))
    assert "SyntaxError" in report.load_error and "line 1" in report.load_error
    assert "could not use the file: importing dense_backward.py raised SyntaxError" in report.format()


def test_an_error_at_import_time_and_a_missing_function_are_reported(tmp_path):
    report = grade_source(tmp_path, "iwae_bound", "import numpy as np\nscale = 1 / 0\n")
    assert report.score == 0 and "ZeroDivisionError" in report.load_error and "(line 2)" in report.load_error
    report = grade_source(tmp_path, "iwae_bound", "def iwae_bound(log_w):\n    return log_w[0]\n")
    assert report.score == 0
    assert "defines no function iwae_bound_backward" in report.load_error


def test_an_exception_is_reported_with_the_students_line(tmp_path):
    source = """
        def dense_backward(dy, cache):
            x, w = cache
            raise ValueError("shapes do not align")
    """
    report = grade_source(tmp_path, "dense_backward", source)
    assert report.score == 0
    assert all("dense_backward raised ValueError: shapes do not align" in r.message for r in report.results)
    assert all("(dense_backward.py, line 4: raise ValueError" in r.message for r in report.results)


def test_wrong_return_values_nan_and_in_place_changes_are_reported(tmp_path):
    report = grade_source(tmp_path, "dense_backward", "def dense_backward(dy, cache):\n    return None\n")
    assert report.score == 0
    assert "should return 3 values (dx, dw, db), got NoneType" in report.results[0].message

    source = plant("dense_backward", "return dx, dw, db", "return dx * np.nan, dw, db")
    report = grade_source(tmp_path, "dense_backward", source)
    assert report.score == 0 and "dx has" in report.results[0].message
    assert "non-finite entries where the answer is finite" in report.results[0].message

    source = plant("dense_backward", "db = dy.sum(axis=0)", "db = dy.sum(axis=0)\n            dy[...] = 0")
    report = grade_source(tmp_path, "dense_backward", source)
    assert report.score == 0
    assert "changed its argument `dy` in place" in report.results[0].message

    source = """
        def iwae_bound(log_w):
            return list(log_w[0])

        def iwae_bound_backward(dbound, log_w):
            return 0 * log_w
    """
    report = grade_source(tmp_path, "iwae_bound", source)
    assert "bound should be a NumPy array, got list" in report.results[0].message


def test_grading_is_deterministic():
    name = "gaussian_kl"
    first = [r.error for r in EXERCISES[name].grade_reference().results]
    again = [r.error for r in EXERCISES[name].grade_reference().results]
    assert first == again


# --- the command line ----------------------------------------------------------------------

def test_list_names_every_exercise_with_its_chapter(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, exercise in EXERCISES.items():
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert exercise.chapter_title in line


def test_stub_show_and_hint(capsys, tmp_path):
    exercise = EXERCISES["conv2d_forward"]
    assert main(["stub", "conv2d_forward"]) == 0
    assert capsys.readouterr().out == exercise.stub_text()
    assert main(["show", "conv2d_forward"]) == 0
    out = capsys.readouterr().out
    assert "ch08 CNN" in out and "thesis eq. 2.32" in out and out.endswith(exercise.stub_text())
    assert main(["hint", "conv2d_forward"]) == 0
    assert capsys.readouterr().out.strip() == exercise.hint

    target = tmp_path / "my_conv.py"
    assert main(["stub", "conv2d_forward", "-o", str(target)]) == 0
    assert target.read_text() == exercise.stub_text()
    target.write_text("my work")
    assert main(["stub", "conv2d_forward", "-o", str(target)]) == 2       # never overwrites
    assert target.read_text() == "my work"


def test_check_exit_codes(capsys, tmp_path):
    stub = tmp_path / "mine.py"
    stub.write_text(EXERCISES["elbo"].stub_text())
    assert main(["check", "elbo", "--file", str(stub)]) == 1
    out = capsys.readouterr().out
    assert f"score: 0/{len(labels('elbo'))}" in out
    assert main(["check", "elbo", "--reference"]) == 0
    assert main(["check", "all", "--reference"]) == 0
    assert f"{len(EXERCISES)}/{len(EXERCISES)} exercises pass every case" in capsys.readouterr().out
    assert main(["check", "no_such_exercise", "--reference"]) == 2
    assert main(["check", "elbo", "--file", str(tmp_path / "missing.py")]) == 2
    assert main(["check", "all", "--file", str(stub)]) == 2
    assert "error: NAME: expected an exercise (dense_backward, " in capsys.readouterr().err


def test_python_dash_m_grades_a_file(tmp_path):
    """The module runs as a program: a correct file exits 0, a planted bug exits 1."""
    good = write(tmp_path, "good", SOLUTIONS["iwae_bound"])
    bad = write(tmp_path, "bad", plant("iwae_bound", "return m + np.log(np.mean(np.exp(log_w - m), axis=0))",
                                       "return np.log(np.mean(np.exp(log_w), axis=0))"))
    for path, code, last in ((good, 0, "all cases pass"), (bad, 1, "first failing case: #3")):
        run = subprocess.run([sys.executable, "-m", "vae_from_scratch.exercises", "check", "iwae_bound",
                              "--file", str(path)], capture_output=True, text=True, cwd=ROOT)
        assert run.returncode == code, run.stdout + run.stderr
        assert last in run.stdout.strip().splitlines()[-1]
        assert run.stderr == ""                          # no warnings, no traceback
