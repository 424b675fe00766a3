"""Scenario planning for a demo session: who says what, when, and what the hands do (pure).

Contract
--------
:func:`plan_session` turns a procedure, its ordered step labels, a duration and the measured
length of every sentence into a :class:`SessionPlan` on the session clock (t = 0 is the
reference camera's first frame):

* ``utterances``: scripted English lines with speaker role and conversation state, placed at
  their real synthesised length, never overlapping;
* ``state_tier`` / ``step_tier``: annotation intervals covering ``[0, duration_s]`` without gaps
  or overlaps, boundaries rounded to milliseconds;
* ``activities``: hands-on work on the table (the learner doing a step, the instructor
  demonstrating or pointing) that the scene animates and that makes work sounds.

The plan walks the steps in order: ``background`` first (intro) and last (outro); per step a
cycle instructor_explains → (sometimes) instructor_demonstrates → silent_work → (sometimes)
learner_asks → instructor_answers → confirmation. Long sessions get more cycles per step
(tips, adjusting, more questions), short ones fewer steps and shorter sentences. Everything is
fitted to the duration exactly: silent work absorbs the slack.

Nothing here synthesises audio or draws; sentence lengths come in as a mapping, so the planner is
testable with made-up durations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from egoinstruct.tasks import STEPS

Line = tuple[str, str]  # (role, text)

INSTRUCTOR = "instructor"
LEARNER = "learner"


# -- what people say ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StepScript:
    """Sentences for one step. ``explain[-1]`` is the short form used when time is tight."""

    explain: tuple[str, ...]
    demonstrate: tuple[str, ...]
    tips: tuple[str, ...]
    questions: tuple[tuple[str, str], ...]  # (learner question, instructor answer)


@dataclass(frozen=True)
class ProcedureScript:
    intro_full: tuple[Line, ...]
    intro_short: tuple[Line, ...]
    outro_full: tuple[Line, ...]
    outro_short: tuple[Line, ...]
    steps: Mapping[str, StepScript]


# Confirmation exchanges after work: (first line, reply).
CONFIRMATIONS: tuple[tuple[Line, Line], ...] = (
    ((LEARNER, "Like this?"), (INSTRUCTOR, "Yes, exactly, that's right.")),
    ((LEARNER, "Is this right?"), (INSTRUCTOR, "Yes, perfect.")),
    ((INSTRUCTOR, "Good, that looks right."), (LEARNER, "Okay, great.")),
    ((LEARNER, "Done. Is that okay?"), (INSTRUCTOR, "Yes, well done.")),
    ((INSTRUCTOR, "Did that work?"), (LEARNER, "Yes, I think so.")),
)

SCRIPTS: dict[str, ProcedureScript] = {
    "block_assembly": ProcedureScript(
        intro_full=(
            (INSTRUCTOR, "Hi! Today we are going to build a small house out of blocks."),
            (LEARNER, "Okay, sounds fun."),
        ),
        intro_short=((INSTRUCTOR, "Let's build a block house."),),
        outro_full=(
            (INSTRUCTOR, "That's it, the house is finished. Well done!"),
            (LEARNER, "Thank you, that was easy."),
        ),
        outro_short=((INSTRUCTOR, "Well done!"), (LEARNER, "Thanks!")),
        steps={
            "place_base_plate": StepScript(
                explain=(
                    "First, take the big grey plate and put it in the middle.",
                    "Start with the grey base plate, right in the middle of the table.",
                    "Put the grey plate in the middle.",
                ),
                demonstrate=(
                    "Look, I hold it by the edges and set it down like this.",
                    "You put it flat, like this, with the studs facing up.",
                ),
                tips=(
                    "Make sure it lies flat and straight.",
                    "Turn it so the long side faces you.",
                ),
                questions=(
                    ("Which way round does it go?", "The long side faces you."),
                    ("Does it matter which side is up?", "Yes, the studs must face up."),
                ),
            ),
            "attach_red_blocks": StepScript(
                explain=(
                    "Now take the two red blocks and attach them on the left side.",
                    "Next, the two red blocks go on the left half of the plate.",
                    "Now the two red blocks.",
                ),
                demonstrate=(
                    "Watch, I push the first one down until it clicks.",
                    "See, you line up the studs and press.",
                ),
                tips=(
                    "Leave a small gap between the two red blocks.",
                    "Press them down firmly so they click.",
                ),
                questions=(
                    ("Should they touch each other?", "No, leave one stud of space between them."),
                    ("On the left from my side or yours?", "From your side, on your left."),
                ),
            ),
            "attach_blue_block": StepScript(
                explain=(
                    "Now put the long blue block across the two red ones.",
                    "The long blue block goes across the red blocks.",
                    "Now the blue block.",
                ),
                demonstrate=(
                    "Like this, it bridges the gap between them.",
                    "I hold it across both and press down.",
                ),
                tips=(
                    "Make sure it rests on both red blocks.",
                    "It should stick out a little on each side.",
                ),
                questions=(
                    (
                        "Does it go this way or the other way?",
                        "Across, so it covers both red blocks.",
                    ),
                    ("Should it stick out at the ends?", "Just a little on both sides."),
                ),
            ),
            "add_yellow_roof": StepScript(
                explain=(
                    "Now the yellow roof goes on top of the blue block.",
                    "Take the yellow roof piece and put it on top.",
                    "Now the yellow roof.",
                ),
                demonstrate=(
                    "The slope goes this way, like a little roof.",
                    "You put it on top, right in the centre, like this.",
                ),
                tips=("Centre it on the blue block.", "The pointed side goes up."),
                questions=(
                    ("Which side is the front of the roof?", "The slanted side faces you."),
                    ("Is it the same width as the blue one?", "Almost, just centre it on top."),
                ),
            ),
            "check_structure": StepScript(
                explain=(
                    "Finally, press every piece down and check that it is stable.",
                    "Now press everything down once more to make it stable.",
                    "Now press it all down.",
                ),
                demonstrate=(
                    "I press here and here, until nothing moves.",
                    "Push gently on the roof, like this, and check nothing wobbles.",
                ),
                tips=("Check that nothing wobbles.", "Give the roof one more push."),
                questions=(
                    ("Do I have to press hard?", "No, just firmly, until it clicks."),
                    ("Is it okay if it moves a bit?", "It should not move, press it again."),
                ),
            ),
        },
    ),
    "paper_folding": ProcedureScript(
        intro_full=(
            (INSTRUCTOR, "Hi! Today we will fold a little paper cat."),
            (LEARNER, "Oh nice, I have never done that."),
        ),
        intro_short=((INSTRUCTOR, "Let's fold a paper cat."),),
        outro_full=(
            (INSTRUCTOR, "And that's your paper cat. Great job!"),
            (LEARNER, "Thanks, it looks so cute!"),
        ),
        outro_short=((INSTRUCTOR, "Well done!"), (LEARNER, "Thanks!")),
        steps={
            "fold_in_half": StepScript(
                explain=(
                    "First, fold the square sheet in half along the diagonal to make a triangle.",
                    "Fold the paper corner to corner, so you get a triangle.",
                    "Fold it in half.",
                ),
                demonstrate=(
                    "Like this, line up the corners and press the fold flat.",
                    "I bring this corner over to the other one and crease it.",
                ),
                tips=(
                    "Run your finger along the fold to make a sharp crease.",
                    "Make sure the corners meet exactly.",
                ),
                questions=(
                    ("Which corners do I line up?", "The one near you and the one far away."),
                    ("Should the coloured side be outside?", "Yes, keep the coloured side out."),
                ),
            ),
            "fold_corners_up": StepScript(
                explain=(
                    "Now fold the two bottom corners up to the top point.",
                    "Take the corners on the left and right and bring them up to the top.",
                    "Now fold the corners up.",
                ),
                demonstrate=(
                    "See, this corner goes up to meet the point, then the other one.",
                    "One side first, like this, then the other side.",
                ),
                tips=("Keep the edges in the middle lined up.", "Press each fold flat."),
                questions=(
                    ("All the way up to the point?", "Yes, right to the top point."),
                    ("Does it matter which one I do first?", "No, either side is fine."),
                ),
            ),
            "fold_flaps_down": StepScript(
                explain=(
                    "Now fold the two upper flaps down to make the ears.",
                    "Fold the tips of the flaps outwards, those are the ears.",
                    "Now fold the ears.",
                ),
                demonstrate=(
                    "Like this, fold it outwards a little, so the ear points to the side.",
                    "I fold this flap, and the same on the other side.",
                ),
                tips=("Make both ears the same size.", "Fold them a bit outwards."),
                questions=(
                    ("How far do I fold them?", "About halfway, so the tips stick out."),
                    ("Should the ears be the same size?", "Yes, try to make them match."),
                ),
            ),
            "turn_over_and_draw": StepScript(
                explain=(
                    "Now turn it over and draw a face on it with the pen.",
                    "Flip the cat over and draw the eyes, nose and whiskers.",
                    "Now turn it over and draw.",
                ),
                demonstrate=(
                    "Two dots for the eyes, a little nose, and whiskers like this.",
                    "I start with the eyes, up here, then the nose.",
                ),
                tips=("Draw the whiskers on both sides.", "Give it a little smile."),
                questions=(
                    ("Where do the eyes go?", "Near the top, below the ears."),
                    ("Can I add a mouth too?", "Sure, a small smile under the nose."),
                ),
            ),
        },
    ),
}


def sentence_bank(procedure: str) -> list[Line]:
    """Every (role, text) a session of ``procedure`` can use, unique, in a fixed order.

    The speech worker synthesises exactly this list, so a sentence's audio depends only on the
    procedure (see :mod:`egoinstruct.demo.speech` on why the batch must be fixed).
    """
    script = SCRIPTS[procedure]
    lines: list[Line] = [*script.intro_full, *script.intro_short]
    lines += [*script.outro_full, *script.outro_short]
    for step in script.steps.values():
        lines += [(INSTRUCTOR, s) for s in (*step.explain, *step.demonstrate, *step.tips)]
        for question, answer in step.questions:
            lines += [(LEARNER, question), (INSTRUCTOR, answer)]
    for first, reply in CONFIRMATIONS:
        lines += [first, reply]
    seen: set[Line] = set()
    unique: list[Line] = []
    for line in lines:
        if line not in seen:
            seen.add(line)
            unique.append(line)
    return unique


# -- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    t_start: float
    t_end: float
    label: str


@dataclass(frozen=True)
class Utterance:
    t_start: float
    t_end: float
    role: str
    text: str
    state: str
    step: str


@dataclass(frozen=True)
class Activity:
    """Hands-on work: ``kind`` is ``main`` (doing the step), ``demo`` (instructor shows it),
    ``adjust`` (fiddling with a done step), or ``point`` (instructor points at the target)."""

    t_start: float
    t_end: float
    actor: str
    kind: str
    step: str


@dataclass(frozen=True)
class SessionPlan:
    procedure: str
    duration_s: float
    steps: tuple[str, ...]  # the procedure's steps in order (without background)
    step_tier: tuple[Interval, ...]
    state_tier: tuple[Interval, ...]
    utterances: tuple[Utterance, ...]
    activities: tuple[Activity, ...]

    def label_at(self, tier: str, t: np.ndarray) -> np.ndarray:
        """Label of ``tier`` (the steps or the states task) at session times ``t`` (clamped to the
        session; before 0 / after the end the first / last label)."""
        intervals = self.step_tier if tier == STEPS.name else self.state_tier
        starts = np.array([iv.t_start for iv in intervals])
        labels = np.array([iv.label for iv in intervals], dtype=object)
        index = np.clip(np.searchsorted(starts, np.asarray(t, float), side="right") - 1, 0, None)
        return labels[index]


@dataclass
class _Block:
    """One state interval while planning. Speech blocks have lines and the pause after each;
    silent blocks have a duration that fitting may stretch."""

    state: str
    step: str
    lines: list[Line] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    work_min: float = 0.0
    extendable: bool = True
    activity: str | None = None  # main | adjust | demo | point
    work_s: float = 0.0

    def fixed(self, durations: Mapping[Line, float]) -> float:
        return sum(durations[line] for line in self.lines) + sum(self.gaps)


# minimum silent work (s): doing a step needs time to reach, carry and place
MAIN_WORK_MIN_S = 2.0
ADJUST_WORK_MIN_S = 1.5
NOMINAL_WORK_S = 5.0  # typical work length used to decide how many cycles fit
FIRST_CYCLE_WORK_S = 3.0  # work length kept free when enriching the first cycle of a step
MAX_WORK_S = 25.0
TAIL_MIN_S = 0.5


class _Planner:
    def __init__(
        self,
        procedure: str,
        steps: list[str],
        duration_s: float,
        durations: Mapping[Line, float],
        rng: np.random.Generator,
    ) -> None:
        self.script = SCRIPTS[procedure]
        self.steps = steps
        self.duration = duration_s
        self.durations = durations
        self.rng = rng
        self._last_confirmation: tuple[Line, Line] | None = None

    # block builders (each draws its own random choices)

    def _gap(self, within: bool) -> float:
        # turn-taking gaps inside an exchange are short; pauses between states longer
        return float(self.rng.uniform(0.15, 0.45) if within else self.rng.uniform(0.3, 0.7))

    def speech(
        self, state: str, step: str, lines: list[Line], activity: str | None = None
    ) -> _Block:
        gaps = [self._gap(True) for _ in lines[:-1]] + [self._gap(False)]
        return _Block(state=state, step=step, lines=list(lines), gaps=gaps, activity=activity)

    def silent(self, step: str, work_min: float, activity: str | None) -> _Block:
        return _Block(state="silent_work", step=step, work_min=work_min, activity=activity)

    def confirmation(self, step: str, shortest: bool) -> _Block:
        if shortest:  # one of the three shortest exchanges
            pool = sorted(CONFIRMATIONS, key=lambda p: self.durations[p[0]] + self.durations[p[1]])[
                :3
            ]
        else:
            pool = list(CONFIRMATIONS)
        if self._last_confirmation in pool:  # people vary what they say
            pool.remove(self._last_confirmation)
        pair = pool[int(self.rng.integers(len(pool)))]
        self._last_confirmation = pair
        return self.speech("confirmation", step, list(pair))

    def first_cycle(
        self, step: str, full: bool, demo: bool, question: bool, confirm: bool = True
    ) -> list[_Block]:
        s = self.script.steps[step]
        if full:
            explain = s.explain[int(self.rng.integers(len(s.explain)))]
        else:
            explain = min(s.explain, key=lambda e: self.durations[(INSTRUCTOR, e)])
        point = bool(self.rng.random() < 0.5)
        blocks = [
            self.speech(
                "instructor_explains", step, [(INSTRUCTOR, explain)], "point" if point else None
            )
        ]
        if demo:
            line = s.demonstrate[int(self.rng.integers(len(s.demonstrate)))]
            blocks.append(
                self.speech("instructor_demonstrates", step, [(INSTRUCTOR, line)], "demo")
            )
        blocks.append(self.silent(step, MAIN_WORK_MIN_S, "main"))
        if question:
            blocks += self.question(step)
        if confirm:
            blocks.append(self.confirmation(step, shortest=not full))
        return blocks

    def question(self, step: str) -> list[_Block]:
        s = self.script.steps[step]
        q, a = s.questions[int(self.rng.integers(len(s.questions)))]
        return [
            self.speech("learner_asks", step, [(LEARNER, q)]),
            self.speech("instructor_answers", step, [(INSTRUCTOR, a)]),
        ]

    def extra_cycle(self, step: str) -> list[_Block]:
        s = self.script.steps[step]
        tip = s.tips[int(self.rng.integers(len(s.tips)))]
        point = bool(self.rng.random() < 0.4)
        blocks = [
            self.speech(
                "instructor_explains", step, [(INSTRUCTOR, tip)], "point" if point else None
            )
        ]
        if self.rng.random() < 0.25:
            line = s.demonstrate[int(self.rng.integers(len(s.demonstrate)))]
            blocks.append(
                self.speech("instructor_demonstrates", step, [(INSTRUCTOR, line)], "demo")
            )
        blocks.append(self.silent(step, ADJUST_WORK_MIN_S, "adjust"))
        if self.rng.random() < 0.35:
            blocks += self.question(step)
        blocks.append(self.confirmation(step, shortest=False))
        return blocks

    # fitting

    def need(self, blocks: list[_Block], nominal: float = 0.0) -> float:
        """Seconds ``blocks`` take with every work block at least ``nominal`` long."""
        total = TAIL_MIN_S
        for b in blocks:
            total += b.fixed(self.durations)
            if b.state == "silent_work" and not b.lines:
                total += max(b.work_min, nominal) if b.activity else b.work_min
        return total

    def plan(self) -> list[_Block]:
        D = self.duration
        lead = _Block(
            state="silent_work",
            step="background",
            work_min=float(self.rng.uniform(0.4, 1.0)),
            extendable=False,
        )
        intro: list[_Block] = []
        outro: list[_Block] = []
        cycles: list[list[list[_Block]]] = []  # per included step, its cycles

        def assemble(
            intro_: list[_Block], cycles_: list[list[list[_Block]]], outro_: list[_Block]
        ) -> list[_Block]:
            out = [lead, *intro_]
            for step_cycles in cycles_:
                for cycle in step_cycles:
                    out += cycle
            return out + outro_

        def fits(blocks: list[_Block], nominal: float = 0.0) -> bool:
            return self.need(blocks, nominal) <= D + 1e-9

        first = self.first_cycle(self.steps[0], full=False, demo=False, question=False)
        if not fits(assemble([], [[first]], [])):
            # very short sessions: the step without the closing confirmation
            first = self.first_cycle(
                self.steps[0], full=False, demo=False, question=False, confirm=False
            )
        if not fits(assemble([], [[first]], [])):
            need = self.need(assemble([], [[first]], []))
            raise ValueError(
                f"duration_s={D:g} is too short for a demo session: one step alone needs {need:.1f} s"
            )
        cycles.append([first])
        s = self.script
        # Phase B: short intro and outro, if they fit.
        candidate = self.speech("instructor_explains", "background", list(s.intro_short))
        if fits(assemble([candidate], cycles, outro)):
            intro = [candidate]
        candidate_outro = [self.speech("confirmation", "background", list(s.outro_short))]
        if fits(assemble(intro, cycles, candidate_outro)):
            outro = candidate_outro
        # Phase C: more steps, minimal.
        for step in self.steps[1:]:
            cycle = self.first_cycle(step, full=False, demo=False, question=False)
            if not fits(assemble(intro, [*cycles, [cycle]], outro)):
                break
            cycles.append([cycle])
        # Phase D: full intro and outro.
        full_intro = [
            self.speech("instructor_explains", "background", [s.intro_full[0]]),
            self.speech("confirmation", "background", list(s.intro_full[1:])),
        ]
        if fits(assemble(full_intro, cycles, outro)):
            intro = full_intro
        full_outro = [self.speech("confirmation", "background", list(s.outro_full))]
        if fits(assemble(intro, cycles, full_outro)):
            outro = full_outro
        # Phase E: richer first cycles. A demonstration and a question go in first (at minimum
        # work lengths) so every conversation state shows when there is any room; then longer
        # sentences, more demonstrations and questions while typical work lengths still fit.
        n = len(cycles)
        flags = [{"full": False, "demo": False, "question": False} for _ in range(n)]

        def try_upgrade(i: int, key: str, nominal: float) -> None:
            nonlocal cycles
            trial_flags = {**flags[i], key: True}
            upgraded = self.first_cycle(self.steps[i], **trial_flags)
            trial = [*cycles[:i], [upgraded], *cycles[i + 1 :]]
            if fits(assemble(intro, trial, outro), nominal=nominal):
                cycles = trial
                flags[i] = trial_flags

        try_upgrade(int(self.rng.integers(n)), "demo", nominal=0.0)
        try_upgrade(int(self.rng.integers(n)), "question", nominal=0.0)
        for i in range(n):
            for key, p in (("full", 1.0), ("demo", 0.5), ("question", 0.4)):
                if not flags[i][key] and self.rng.random() < p:
                    try_upgrade(i, key, nominal=FIRST_CYCLE_WORK_S)
        # Phase F: extra cycles round robin while typical work lengths still fit.
        added = True
        while added:
            added = False
            for i in range(n):
                extra = self.extra_cycle(self.steps[i])
                trial = [*cycles[:i], [*cycles[i], extra], *cycles[i + 1 :]]
                if fits(assemble(intro, trial, outro), nominal=NOMINAL_WORK_S):
                    cycles = trial
                    added = True
        tail = _Block(
            state="silent_work",
            step="background" if outro else self.steps[n - 1],
            work_min=TAIL_MIN_S,
        )
        blocks = [*assemble(intro, cycles, outro), tail]
        self.distribute_slack(blocks)
        return blocks

    def distribute_slack(self, blocks: list[_Block]) -> None:
        """Stretch silent blocks so the session lasts exactly ``duration``."""
        silent = [b for b in blocks if not b.lines]
        for b in silent:
            b.work_s = b.work_min
        slack = self.duration - sum(b.fixed(self.durations) + b.work_s for b in blocks)
        open_ = [b for b in silent if b.extendable and b.activity]
        weights = {
            id(b): float(self.rng.uniform(0.5, 1.5)) * (2.0 if b.activity == "main" else 1.0)
            for b in open_
        }
        while slack > 1e-9 and open_:
            total_w = sum(weights[id(b)] for b in open_)
            still_open = []
            given = 0.0
            for b in open_:
                add = min(slack * weights[id(b)] / total_w, MAX_WORK_S - b.work_s)
                b.work_s += add
                given += add
                if b.work_s < MAX_WORK_S - 1e-9:
                    still_open.append(b)
            slack -= given
            open_ = still_open
        blocks[-1].work_s += max(slack, 0.0)  # the tail takes what is left


def plan_session(
    procedure: str,
    steps: list[str],
    duration_s: float,
    durations: Mapping[Line, float] | Callable[[Line], float],
    rng: np.random.Generator,
) -> SessionPlan:
    """Plan one session (see the module docstring). ``durations`` gives each line's spoken
    length in seconds; ``steps`` are the procedure's step labels in order, without background."""
    if procedure not in SCRIPTS:
        raise ValueError(f"unknown procedure {procedure!r}; expected one of {sorted(SCRIPTS)}")
    missing = [s for s in steps if s not in SCRIPTS[procedure].steps]
    if missing:
        raise ValueError(
            f"no demo script for step(s) {', '.join(missing)} of {procedure!r}; the label file and "
            "egoinstruct.demo.script.SCRIPTS must list the same steps"
        )
    if not steps:
        raise ValueError(f"procedure {procedure!r} has no steps")
    if callable(durations):
        lookup: Mapping[Line, float] = {
            line: float(durations(line)) for line in sentence_bank(procedure)
        }
    else:
        lookup = durations
    planner = _Planner(procedure, steps, duration_s, lookup, rng)
    blocks = planner.plan()

    utterances: list[Utterance] = []
    activities: list[Activity] = []
    states: list[tuple[float, str]] = []
    step_starts: list[tuple[float, str]] = []
    t = 0.0
    for b in blocks:
        start = t
        states.append((start, b.state))
        if not step_starts or step_starts[-1][1] != b.step:
            step_starts.append((start, b.step))
        if b.lines:
            for line, gap in zip(b.lines, b.gaps, strict=True):
                d = lookup[line]
                utterances.append(Utterance(t, t + d, line[0], line[1], b.state, b.step))
                t += d + gap
            if b.activity == "demo":
                activities.append(
                    Activity(start, utterances[-1].t_end + 0.3, INSTRUCTOR, "demo", b.step)
                )
            elif b.activity == "point":
                first = utterances[-len(b.lines)]
                end = min(first.t_end, first.t_start + 3.0)
                if end - first.t_start > 1.2:
                    activities.append(
                        Activity(first.t_start + 0.2, end, INSTRUCTOR, "point", b.step)
                    )
        else:
            t += b.work_s
            if b.activity in ("main", "adjust"):
                activities.append(Activity(start + 0.1, t - 0.1, LEARNER, b.activity, b.step))
    duration = round(duration_s, 3)

    def tier(starts: list[tuple[float, str]]) -> tuple[Interval, ...]:
        # merge repeats, round boundaries once so neighbours share them exactly
        merged: list[tuple[float, str]] = []
        for start, label in starts:
            if merged and merged[-1][1] == label:
                continue
            merged.append((round(start, 3), label))
        ends = [s for s, _ in merged[1:]] + [duration]
        return tuple(Interval(s, e, label) for (s, label), e in zip(merged, ends, strict=True))

    return SessionPlan(
        procedure=procedure,
        duration_s=duration_s,
        steps=tuple(steps),
        step_tier=tier(step_starts),
        state_tier=tier(states),
        utterances=tuple(utterances),
        activities=tuple(activities),
    )
