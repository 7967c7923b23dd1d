"""The assembler's state per job, as its `assembler-ends` Faust table holds it (changelog in
Kafka), so whichever worker owns the job's partition after a rebalance knows it too."""

from __future__ import annotations

from pydantic import Field

from schemas.base import Message
from schemas.pipeline import SegmentMeta


class AssemblyState(Message):
    """The job's end marker once it arrived (its media segments may still be missing), and
    whether the final MP4 was made and reported; after that the job's records do nothing."""

    end: SegmentMeta
    assembled: bool = Field(False, description="the final MP4 is made and `completed` sent")
