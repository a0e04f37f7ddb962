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
                     "log_other.png"}
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| rewards/accuracy | 10 | 0 | 0.9 | 0 | 0.9 |" in md


def test_log_groups_put_each_metric_once():
    keys = ["reward", "rewards/format", "mean_length", "kl", "policy_loss", "grad_norm"]
    groups = log_groups(keys)
    assert sorted(k for v in groups.values() for k in v) == sorted(keys)
    assert groups["kl"] == ["kl"] and groups["loss"] == ["policy_loss"]
