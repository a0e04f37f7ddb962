"""log.jsonl keeps small values: an R1-sized learning rate (3e-6 and below) or a small KL must not
be logged as 0, and large values keep their leading digits."""

import json

from r1data.trainers.config import OutputConfig
from r1data.trainers.distributed import Dist
from r1data.trainers.train_log import TrainLogger


def test_small_values_keep_their_digits(tmp_path):
    logger = TrainLogger(OutputConfig(dir=str(tmp_path)), 1, Dist(), 0)
    logger.log(1, {"lr": 3e-7, "kl": 1.234567891e-9, "loss": 1234.56789, "accuracy": 0.5})
    logger.close()
    entry = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[0])
    assert (entry["lr"], entry["kl"], entry["loss"], entry["accuracy"]) == (3e-7, 1.23457e-9, 1234.57, 0.5)
