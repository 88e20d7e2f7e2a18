# Two entry points from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pyrocomp-installed

.PHONY: demo test setup benchmarks clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/pyrocomp compress --model lenet5-caffe --prior group-nj --dataset mnist5k \
		--pretrain-epochs 5 --epochs 60 --lr 1e-3 --kl-warmup-epochs 5 --finetune-epochs 3 --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q

benchmarks: $(STAMP)
	$(PY) benchmarks/priors.py --out results --threads 1
	$(PY) benchmarks/elbo.py --out results --threads 1
	$(PY) benchmarks/turbo.py --out results --threads 1 --scratch
	$(PY) benchmarks/frontier.py --out results --threads 1 --compare results/turbo.json
	$(PY) benchmarks/mixture.py --out results --threads 1

clean:
	rm -rf runs results .pytest_cache
