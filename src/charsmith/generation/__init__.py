"""Generation: sampling, beam search, constraints with their automaton, and the SMC
correction.

- ``stepper``: the one door to the model (prime a prefix, step rows, select rows);
- ``controls``: temperature, top-k, top-p and drawing;
- ``regex``, ``automaton``, ``constraints``: what an item must satisfy, compiled into one
  DFA over the vocabulary with a length window;
- ``plain``: plain draws kept when they match (exact rejection);
- ``smc``: sequential Monte Carlo when matches are rare, guided by ``twist`` (a look-ahead:
  how likely a prefix is to end in a match, under the model's bigram statistics);
- ``sampling``: choosing between them, the novelty filter, streaming, text completions;
- ``beam``: the most likely matching items.
"""

from charsmith.generation.beam import beam_search
from charsmith.generation.constraints import Constraints, Plan
from charsmith.generation.controls import Controls, draw, next_probs
from charsmith.generation.sampling import (
    PARTICLES,
    SampleResult,
    SampleStream,
    complete,
    complete_stream,
    generate,
    sample_items,
)
from charsmith.generation.stepper import Rows, Stepper

__all__ = ["PARTICLES", "Constraints", "Controls", "Plan", "Rows", "SampleResult", "SampleStream", "Stepper",
           "beam_search", "complete", "complete_stream", "draw", "generate", "next_probs", "sample_items"]
