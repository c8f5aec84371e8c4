"""What every section of the project file shares."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are errors; a loaded project cannot be changed by accident."""

    model_config = ConfigDict(extra="forbid", frozen=True)
