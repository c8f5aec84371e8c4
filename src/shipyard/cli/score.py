"""`shipyard score`: batch scoring of a table too big for memory with a registered model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli import DEFAULT_PROJECT, ProjectArg, _guarded, app, err, out


@app.command()
@_guarded
def score(project: ProjectArg = DEFAULT_PROJECT,
          inputs: Annotated[list[str] | None, typer.Option(
              "--input", help="Parquet file(s) or glob(s) to score; repeatable.")] = None,
          query: Annotated[str | None, typer.Option(
              help="SQL whose rows to score (run once, streamed).")] = None,
          url: Annotated[str | None, typer.Option(
              help="The database --query runs on (default: the project's source.url).")
          ] = None,
          output: Annotated[Path | None, typer.Option(
              help="A folder for the scores as part-*.parquet files.")] = None,
          table: Annotated[str | None, typer.Option(
              help="A database table for the scores instead.")] = None,
          output_url: Annotated[str | None, typer.Option(
              help="The database --table is written to (default: --url, else the "
                   "project's source.url).")] = None,
          version: Annotated[str | None, typer.Option(
              help="Score with this registered version.")] = None,
          alias: Annotated[str | None, typer.Option(
              help="Score with the version holding this alias (default: champion).")] = None,
          partition_rows: Annotated[int, typer.Option(
              min=1, help="Rows per partition: the unit of work, retry and memory.")
          ] = 200_000,
          overwrite: Annotated[bool, typer.Option(
              "--overwrite", help="Replace the scores in an existing output.")] = False,
          ) -> None:
    """Score a table (Parquet files or a query) with the champion, partition by
    partition, in this process or on the project's compute cluster; write one row
    per input row (its keys, _row and the prediction) to Parquet or a table, and
    check at the end that every input row was scored exactly once."""
    from shipyard import compute, registry, spec
    from shipyard.compute.batch import Query
    from shipyard.compute.batch import score as run
    from shipyard.compute.writers import ParquetOutput, TableOutput
    from shipyard.progress import Bars
    from shipyard.workspace import Workspace

    if (inputs is None) == (query is None):
        raise typer.BadParameter("give either --input (Parquet) or --query (SQL)")
    if (output is None) == (table is None):
        raise typer.BadParameter("give either --output (a folder) or --table")
    if version is not None and alias is not None:
        raise typer.BadParameter("give --version or --alias, not both")
    loaded = spec.load(project)
    workspace = Workspace.of(loaded)
    model = (registry.load_version(workspace, loaded.name, version) if version is not None
             else registry.load(workspace, loaded.name, alias or registry.CHAMPION))
    database = url or loaded.source.url
    if query is not None and database is None:
        raise typer.BadParameter("the project's source has no url: give --url for --query")
    source = Query(database, query, loaded.root) if query is not None else inputs
    if table is not None:
        target_url = output_url or database
        if target_url is None or target_url.startswith("duckdb://"):
            raise typer.BadParameter("--table is written through SQLAlchemy: give "
                                     "--output-url (e.g. postgresql+psycopg://...)")
        destination = TableOutput(target_url, table)
    else:
        destination = ParquetOutput(str(output.resolve()))
    keys = [k for k in (loaded.entity, loaded.time, model.card.entity) if k]
    card = model.card
    err.print(f"Scoring with {card.name} version {card.version} ({card.estimator})")
    with compute.connect(loaded.compute) as client, Bars(err) as bars:
        result = run(model, source, destination, client=client, keys=keys,
                     partition_rows=partition_rows, overwrite=overwrite,
                     staging=workspace.root if workspace.root.is_dir() else None,
                     progress=bars)
    rate = result.rows / result.seconds if result.seconds else float("nan")
    out.print(f"Scored {result.rows:,} rows in {result.partitions} partition(s) "
              f"({result.where}) in {result.seconds:.1f} s, {rate:,.0f} rows/s: each row "
              f"once in {result.output}", markup=False, soft_wrap=True)
