"""How the user's input is laid out reaches the reader as an argument (issue #27, point 4): one
`ReadOptions` built by the command from its options, no module-level state, and the older
per-column options only add to it."""

from __future__ import annotations

import dataclasses
import json

import typer
from typer.testing import CliRunner

from r1data import config as cfg
from r1data import io, schemas
from r1data.commands.input_options import reads_input
from r1data.generate import GenerateConfig
from r1data.launch.generation import load_config, write_config


def test_no_module_level_reading_state():
    assert not hasattr(schemas, "active_options") and not hasattr(schemas, "reading")
    assert not hasattr(io, "ColumnMap")
    import contextvars

    assert not any(isinstance(v, contextvars.ContextVar) for v in vars(schemas).values())


def test_reads_input_hands_the_command_one_read_options():
    got = []
    app = typer.Typer()

    @app.command()
    @reads_input(require_completion=True)
    def command(path: str, read_options=None) -> None:
        got.append(read_options)

    result = CliRunner().invoke(app, ["x.jsonl", "--columns", "prompt=q,gold=reward_model.ground_truth",
                                      "--schema", "verl", "--split", "test", "--solution", "sample"])
    assert result.exit_code == 0, result.output
    assert got == [schemas.ReadOptions(schema="verl", split="test", solution="sample",
                                       columns={"prompt": "q", "gold": "reward_model.ground_truth"},
                                       require_completion=True)]
    # the argument is not an option of the command
    assert "--read-options" not in CliRunner().invoke(app, ["--help"]).output


def test_generate_config_carries_its_read_options_to_sharded_tasks(tmp_path):
    """A sharded run's tasks rebuild the config from JSON: the read options travel with it, the
    older --prompt-column added to the command's --columns."""
    options = schemas.ReadOptions(schema="columns", columns={"gold": "ref"}).mapped(
        prompt="question", gold="answer", id=None)
    config = cfg.from_dict(GenerateConfig, {"input": str(tmp_path / "p.jsonl"),
                                            "output": str(tmp_path / "out"), "read": options,
                                            "num_shards": 2})
    assert config.read.columns == {"prompt": "question", "gold": "ref"}
    again = load_config(write_config(config))
    assert again.read == config.read and again.read.schema == "columns"
    assert json.loads((tmp_path / "out" / ".logs" / "generate" / "config.json").read_text())[
        "read"]["columns"] == {"prompt": "question", "gold": "ref"}
    assert dataclasses.replace(again, shard_index=1).read == options
