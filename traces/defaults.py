"""Per-program resource defaults for traces that do not record them (most public traces)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ProgramDefaults(BaseModel):
    """Resource profile given to a program when its trace does not say (documented, overridable)."""

    cpu_millicores: float = Field(1000.0, gt=0, description="CPU request per container (one core)")
    memory_mb: float = Field(256.0, gt=0, description="memory request per container")
    concurrency: int = Field(1, ge=1, description="requests one container serves at once")
    cold_start_s: float = Field(1.0, ge=0, description="cold start of a CPU container")
    gpu_memory_mb: float = Field(16384.0, gt=0, description="memory request of a GPU container")
    gpu_cold_start_s: float = Field(30.0, ge=0, description="cold start of a GPU container (model load)")
    image: str = Field("clonecast/workload:latest", min_length=1, description="container image of a clone")
