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
	$(PY) benchmarks/frontiers.py --out benchmarks/results --name frontiers-lenet300 --models lenet300 --pretrain-epochs 20 --epochs 30
	$(PY) benchmarks/frontiers.py --out benchmarks/results --name frontiers-lenet300 --models lenet300 --pretrain-epochs 20 --epochs 30 --methods bhc --append
	$(PY) benchmarks/frontiers.py --out benchmarks/results --threads 1 --name frontiers-lenet5-caffe --models lenet5-caffe --methods magnitude snip l0-in vd group-nj group-hs io-nj mixture mixture-hs mixture-laplace mixture-nj turbo --pretrain-epochs 10 --epochs 15 --finetune-epochs 2
	$(PY) benchmarks/frontiers.py --out benchmarks/results --name frontiers-fashion-mnist --dataset fashion-mnist --models lenet5 --methods magnitude l0-in vd group-nj turbo --train-size 20000 --pretrain-epochs 10 --epochs 10 --finetune-epochs 2
	$(PY) benchmarks/frontiers.py --out benchmarks/results --threads 1 --name frontiers-fashion-mnist-turbo-kl --dataset fashion-mnist --models lenet5 --seeds 1 --methods turbo --kl-weights 1 0.1 0.01 --train-size 20000 --pretrain-epochs 10 --epochs 10 --finetune-epochs 2
	$(PY) benchmarks/frontiers.py --out benchmarks/results --threads 1 --name frontiers-mnist-lenet300 --dataset mnist --models lenet300 --seeds 1 --methods magnitude vd group-nj group-hs --pretrain-epochs 20 --epochs 20 --finetune-epochs 2
	$(PY) benchmarks/frontiers.py --out benchmarks/results --threads 1 --name frontiers-mnist-lenet5-caffe --dataset mnist --models lenet5-caffe --seeds 1 --methods vd group-hs --pretrain-epochs 5 --epochs 5

clean:
	rm -rf runs .pytest_cache docs/_build docs/api/generated
