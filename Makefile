# Two entry points from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pyrocomp-installed

.PHONY: demo test test-slow fuzz docs setup benchmarks clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e ".[all,test]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/pyrocomp compress --model lenet5-caffe --prior group-nj --dataset mnist5k \
		--pretrain-epochs 5 --epochs 60 --lr 1e-3 --kl-warmup-epochs 5 --finetune-epochs 3 --out runs/demo --overwrite

test: $(STAMP)
	$(PY) -m pytest -q

# the long fits, examples at full length and the Sphinx build (CI runs them after `make test`)
test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# the seeded sweep of bad and legal input, with many more random cases than make test runs
fuzz: $(STAMP)
	FUZZ_CASES=2000 $(PY) -m pytest -q -s tests/test_fuzz.py

docs: $(STAMP)
	$(PY) -m sphinx -W -b html docs docs/_build/html

benchmarks: $(STAMP)
	$(PY) benchmarks/priors.py --out benchmarks/results --threads 1
	$(PY) benchmarks/elbo.py --out benchmarks/results --threads 1
	$(PY) benchmarks/turbo.py --out benchmarks/results --threads 1 --scratch
	$(PY) benchmarks/frontier.py --out benchmarks/results --threads 1 --compare benchmarks/results/turbo.json
	$(PY) benchmarks/mixture.py --out benchmarks/results --threads 1
	$(PY) benchmarks/speed.py --out benchmarks/results
	$(PY) benchmarks/diagnostics.py --out benchmarks/results --quiet
	$(PY) benchmarks/scale.py --out benchmarks/results
	$(PY) benchmarks/frontiers.py --out benchmarks/results --threads 1

clean:
	rm -rf runs .pytest_cache docs/_build docs/api/generated
