"""Schedules: a number that changes with the optimizer step t = 0, 1, 2, …

Both kinds are pure functions of t, so that a checkpoint only needs t to resume them.

    learning rate η(t)      constant, step_decay, exponential_decay, cosine_decay,
                            linear_warmup — passed as `lr=` to any optimizer (optim.py)
    KL weight β(t)          linear_beta_schedule — KL annealing (tutorial §4), passed as
                            `beta=` to train.fit
"""

import math

from .utils import check_int, check_number


# --- learning rates η(t) ---------------------------------------------------------------------
def constant(lr):
    """lr(t) = lr."""
    lr = check_number("constant", "lr", lr)

    def schedule(step):
        return lr
    return schedule


def step_decay(lr, every, factor):
    """lr(t) = lr · factor^⌊t / every⌋: multiplied by `factor` every `every` steps.
    every: integer ≥ 1; factor in (0, 1]."""
    lr = check_number("step_decay", "lr", lr)
    every = check_int("step_decay", "every", every, 1)
    factor = check_number("step_decay", "factor", factor, 0.0, 1.0)

    def schedule(step):
        return lr * factor ** (step // every)
    return schedule


def exponential_decay(lr, rate, every=1):
    """lr(t) = lr · rate^(t / every): smoothly, a factor `rate` per `every` steps.
    rate in (0, 1]; every > 0."""
    lr = check_number("exponential_decay", "lr", lr)
    rate = check_number("exponential_decay", "rate", rate, 0.0, 1.0)
    every = check_number("exponential_decay", "every", every)

    def schedule(step):
        return lr * rate ** (step / every)
    return schedule


def cosine_decay(lr, total_steps, final_lr=0.0):
    """lr(t) = final_lr + ½ (lr − final_lr) (1 + cos(π · min(t, T) / T)),  T = total_steps:
    from lr at t = 0 down to final_lr at t = T along half a cosine, then final_lr.
    total_steps: integer ≥ 1; 0 ≤ final_lr ≤ lr."""
    lr = check_number("cosine_decay", "lr", lr)
    total_steps = check_int("cosine_decay", "total_steps", total_steps, 1)
    final_lr = check_number("cosine_decay", "final_lr", final_lr, 0.0, lr, low_open=False)

    def schedule(step):
        progress = min(step, total_steps) / total_steps
        return final_lr + 0.5 * (lr - final_lr) * (1 + math.cos(math.pi * progress))
    return schedule


def linear_warmup(schedule_or_lr, warmup_steps):
    """Ramp up linearly for `warmup_steps` steps W, then follow the schedule s, started
    at the end of the warmup (a float lr means `constant(lr)`):

        lr(t) = s(0) · (t + 1) / W    for t < W        (s(0)/W, 2 s(0)/W, …, s(0))
        lr(t) = s(t − W)              for t ≥ W

    warmup_steps: integer ≥ 0 (0: no warmup, lr(t) = s(t))."""
    base = schedule_or_lr if callable(schedule_or_lr) else constant(schedule_or_lr)
    warmup_steps = check_int("linear_warmup", "warmup_steps", warmup_steps, 0)

    def schedule(step):
        if step < warmup_steps:
            return base(0) * (step + 1) / warmup_steps
        return base(step - warmup_steps)
    return schedule


# --- the KL weight β(t) ------------------------------------------------------------------------
def linear_beta_schedule(warmup_steps, beta_max=1.0, beta_min=0.0):
    """KL annealing (tutorial §4): β(step) rises linearly from beta_min to beta_max over
    `warmup_steps` optimizer steps, then stays at beta_max.  Early in training the
    decoder learns to use z before the KL term pulls q(z|x) onto the prior.

    Returns a function step -> β; warmup_steps = 0 gives beta_max from the start.
    """
    warmup_steps = check_number("linear_beta_schedule", "warmup_steps", warmup_steps, 0.0,
                                low_open=False)                # a count, ≥ 0 (0: no warmup)

    def beta(step):
        if warmup_steps == 0:
            return float(beta_max)
        return float(beta_min + (beta_max - beta_min) * min(1.0, step / warmup_steps))

    return beta


__all__ = ["constant", "step_decay", "exponential_decay", "cosine_decay", "linear_warmup",
           "linear_beta_schedule"]
