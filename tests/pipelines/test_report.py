"""`r1data report`: Markdown + PNG + HTML for record folders and for training logs."""

import json

from r1data.pipelines.report import build_report, is_training_log, log_groups


def test_report_of_a_records_folder(corpus, tmp_path):
    folder, records = corpus
    stats = build_report(folder, tmp_path / "rep")
    answered = [r for r in records if r.completion]
    assert stats["rows"] == len(records)
    assert stats["with_reasoning"] == sum(r.reasoning is not None for r in answered)
    assert stats["pass_rate"]["prompts"] == 40
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| math | 60 |" in md.replace("reasoning | ", "")
    html = (tmp_path / "rep" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "<table>" in html
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["rows"] == len(records)


def test_report_of_a_training_log(tmp_path):
    log = tmp_path / "train_log.jsonl"
    rows = [{"step": s, "loss": 1 / (s + 1), "rewards/accuracy": s / 10, "rewards/format": 0.9,
             "completion_length": 100 + s, "kl": 0.001 * s, "lr": 1e-6} for s in range(10)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert is_training_log(log)
    result = build_report(log, tmp_path / "rep")
    names = {p.split("/")[-1] for p in result["plots"]}
    assert names == {"log_reward.png", "log_completion_length.png", "log_kl.png", "log_loss.png",
                     "log_learning_rate.png"}
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| rewards/accuracy | 10 | 0 | 0.9 | 0 | 0.9 |" in md


def test_log_groups_put_each_metric_once():
    keys = ["reward", "rewards/format", "mean_length", "kl", "policy_loss", "grad_norm"]
    groups = log_groups(keys)
    assert sorted(k for v in groups.values() for k in v) == sorted(keys)
    assert groups["kl"] == ["kl"] and groups["loss"] == ["policy_loss"]


def test_training_log_plots_one_unit_per_plot_and_shows_small_lr(tmp_path):
    """What the GRPO trainer logs: rewards beside their timings, a throughput, the wall clock.
    Rewards are plotted only with rewards, seconds only with seconds, the Unix time never, and the
    learning rate is written with its digits."""
    log = tmp_path / "log.jsonl"
    rows = [{"step": s, "reward": 0.1 * s, "rewards/accuracy": 0.1 * s, "time/reward": 0.5,
             "time/rollout": 12.0 + s, "tokens_per_s/rollout": 40.0, "grad_norm": 0.3,
             "lr": 1e-05, "time": 1_790_000_000.0 + 10 * s} for s in range(1, 5)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = build_report(log, tmp_path / "rep")
    plotted = result["plotted"]
    assert plotted["reward"] == ["reward", "rewards/accuracy"]
    assert plotted["seconds"] == ["time/reward", "time/rollout"]
    assert plotted["throughput"] == ["tokens_per_s/rollout"]
    assert plotted["other"] == ["grad_norm"] and plotted["learning rate"] == ["lr"]
    assert not any("time" in keys for keys in plotted.values())
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| lr | 4 | 1e-05 | 1e-05 | 1e-05 | 1e-05 |" in md
    assert "| time |" not in md


def test_html_is_rendered_by_markdown_it(corpus, tmp_path):
    folder, _ = corpus
    build_report(folder, tmp_path / "rep")
    page = (tmp_path / "rep" / "report.html").read_text()
    md = (tmp_path / "rep" / "report.md").read_text()
    # headings, bold and tables as markdown-it renders them, nothing left as Markdown syntax
    assert "<h1>r1data report:" in page and "<h2>Statistics</h2>" in page
    assert "<strong>" in page and "**" not in page
    assert page.count("<table>") == sum(line.startswith("|---") for line in md.splitlines())
    assert '<th style="text-align:right">rows</th>' in page
