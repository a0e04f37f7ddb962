from pathlib import Path

import typer

from r1data.commands.input_options import reads_input


@reads_input
def command(
    folder: Path = typer.Argument(..., help="A mix output (train/, test/) or any records file/folder."),
    repo_id: str = typer.Option(..., "--repo-id", help="ORG/NAME of the dataset repository."),
    output: Path = typer.Option(None, "--output", "-o", help="Hub-ready folder (default: FOLDER-hub)."),
    private: bool = typer.Option(True, "--private/--public", help="Visibility of a new repository."),
    branch: str = typer.Option("main", help="Branch to push to (created when missing)."),
    license: str = typer.Option("apache-2.0", help="License id for the card header."),
    token_env: str = typer.Option("HF_TOKEN", help="Environment variable holding the token."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Build the folder only; no network."),
    tokenizer: str = typer.Option("smollm2-135m", help="Counts token lengths the rows lack ('none')."),
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Build a Hub-ready dataset folder (Parquet shards, dataset card, plots) and push it.

    The card says how the data was built (every stage's recipe and drop counts, teachers,
    sampling) and holds statistics computed from the written shards. Without a token or network
    the error is one line and the folder stays as built.
    """
    from rich.console import Console

    from r1data.config import from_dict
    from r1data.pipelines import publish
    from r1data.pipelines.summary import render

    config = from_dict(publish.PublishConfig, dict(
        input=str(folder), repo_id=repo_id, output=str(output) if output else None,
        private=private, branch=branch, license=license, token_env=token_env, dry_run=dry_run,
        tokenizer=tokenizer,
    ))
    summary = publish.build(config, progress=True, read_options=read_options)
    console = Console()
    console.print(render([summary], title="r1data publish"))
    console.print(f"dataset folder: {config.folder}")
    if not dry_run:
        summary = publish.push(config, summary)
        console.print(f"pushed to {summary.extra['url']} (branch {config.branch})")
