"""Task families: pure, vectorized, seeded numpy generators (one module per family)."""

from anchorbench.registry import FAMILIES

FAMILIES.register("anchor-identity", lazy="anchorbench.data.anchor:FAMILY", origin="built-in")
FAMILIES.register("anchor-composition", lazy="anchorbench.data.composition:COMPOSITION", origin="built-in")
FAMILIES.register("anchor-composite", lazy="anchorbench.data.composition:COMPOSITE", origin="built-in")
FAMILIES.register("matching-chain", lazy="anchorbench.data.matching:CHAIN", origin="built-in")
FAMILIES.register("matching-order", lazy="anchorbench.data.matching:ORDER", origin="built-in")
FAMILIES.register("matching-double-chain", lazy="anchorbench.data.matching:DOUBLE_CHAIN", origin="built-in")
FAMILIES.register("anchor-statistical", lazy="anchorbench.data.statistical:FAMILY", origin="built-in")
FAMILIES.register("anchor-multi-interval", lazy="anchorbench.data.intervals:FAMILY", origin="built-in")
FAMILIES.register("anchor-recitation", lazy="anchorbench.data.recitation:FAMILY", origin="built-in")
FAMILIES.register("modular", lazy="anchorbench.data.modular:FAMILY", origin="built-in")
FAMILIES.register("condensation", lazy="anchorbench.data.condensation:FAMILY", origin="built-in")
FAMILIES.register("frequency", lazy="anchorbench.data.frequency:FAMILY", origin="built-in")
FAMILIES.register("superposition", lazy="anchorbench.data.superposition:FAMILY", origin="built-in")
FAMILIES.register("teacher-student", lazy="anchorbench.data.teacher:FAMILY", origin="built-in")
FAMILIES.register("images", lazy="anchorbench.data.images:FAMILY", origin="built-in")
FAMILIES.register("sines", lazy="anchorbench.data.sines:FAMILY", origin="built-in")
FAMILIES.register("parity", lazy="anchorbench.data.parity:FAMILY", origin="built-in")
FAMILIES.register("sentence-grammar", lazy="anchorbench.data.sentence_grammar:FAMILY", origin="built-in")
FAMILIES.register("text", lazy="anchorbench.data.text:FAMILY", origin="built-in")
