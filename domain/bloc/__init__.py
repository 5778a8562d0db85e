"""The bloc's year (Khối thi đua): scoring table, self-assessment and cross-checking, ranking, honouring
proposals, and the rotation of the head and the rotating flag. Pure: no Temporal, database or clock."""
