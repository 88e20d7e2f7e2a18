import copy
import functools
import warnings
from collections.abc import Mapping

import pyro
import torch
from pyro import poutine
from pyro.nn import PyroModule, PyroParam
from pyro.nn.module import to_pyro_module_
from torch import nn

from pyrocomp.util import own_param_store_names

from .bayesian_layer import BAYESIAN_LAYERS, BayesianLayer, ParticleFold
from .likelihoods import CategoricalLikelihood, Likelihood


def _select_prior(prior, name):
    if isinstance(prior, Mapping):
        return prior.get(name)
    return prior


class BayesianNetwork(PyroModule):
    r"""
    A Pyro model built from a plain network: every registered layer (``nn.Linear``,
    ``nn.Conv2d``) gets its weight as a sample site declared by a prior; biases and
    BatchNorm stay point estimates, as :class:`~pyro.nn.PyroParam` s that Pyro's param store (or
    module-local parameters) holds. Site names are module paths
    (``features.0.weight``, ``features.0.scale``, ...).

    .. math::

        p(y, W, \theta) = p(\theta)\, p(W \mid \theta) \prod_{n=1}^N p(y_n \mid f(x_n; W)),

    the likelihood scaled to the data-set size through
    ``pyro.plate("data", size=N, subsample=...)``.

    :param torch.nn.Module net: the plain network; its weights initialise the guide means.
    :param prior: one prior for every layer — a :class:`~pyrocomp.priors.Prior`, or any callable
        ``prior(name, layer)`` that samples the layer's sites and returns its weight — or a mapping from
        layer path to prior (layers absent or mapped to ``None`` stay deterministic).
    :param likelihood: a :class:`~pyrocomp.nn.likelihoods.Likelihood`
        (default: categorical on logits).
    :param int dataset_size: ``N``; without it the likelihood counts the mini-batch alone (a warning says so).
    :param bool inplace: convert ``net`` itself instead of a deep copy.

    Example::

        bnn = BayesianNetwork(net, GroupNormalJeffreys(), dataset_size=len(train))
        guide = AutoCompressionGuide(bnn)
        svi = pyro.infer.SVI(bnn, guide, pyro.optim.Adam({"lr": 1e-3}), TraceMeanField_ELBO())
    """

    def __init__(self, net, prior, *, likelihood=None, dataset_size=None, inplace=False):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise TypeError(f"Expected net to be a torch.nn.Module but got {type(net).__name__}")
        if not (callable(prior) or isinstance(prior, Mapping)):
            raise TypeError(f"Expected prior to be a callable prior(name, layer) or a mapping of them but got {prior!r}")
        if dataset_size is not None and (not isinstance(dataset_size, int) or dataset_size <= 0):
            raise ValueError(f"Expected dataset_size to be a positive int but got {dataset_size!r}")
        self.likelihood = CategoricalLikelihood() if likelihood is None else likelihood
        if not isinstance(self.likelihood, Likelihood):
            raise TypeError(f"Expected likelihood to be a pyrocomp Likelihood but got {likelihood!r}")
        self.dataset_size = dataset_size
        self.kl_scale = 1.0
        net = net if inplace else copy.deepcopy(net)
        if type(net) in BAYESIAN_LAYERS:  # a bare layer: give it a path
            net = nn.Sequential(net)
        _refuse_shared_weights(net)
        self._plain = (copy.deepcopy(net),)  # structure of the plain network, for export
        converted = 0
        for name, module in list(net.named_modules()):
            layer_prior = _select_prior(prior, name)
            if type(module) in BAYESIAN_LAYERS and layer_prior is not None:
                if not callable(layer_prior):
                    raise TypeError(f"Expected a callable prior(name, layer) for layer {name!r} but got {layer_prior!r}")
                _replace(net, name, BAYESIAN_LAYERS[type(module)](module, layer_prior, name))
                converted += 1
        if converted == 0:
            raise ValueError(f"No layer of {type(net).__name__} could be made Bayesian; expected one of "
                             f"{[t.__name__ for t in BAYESIAN_LAYERS]} with a prior")
        to_pyro_module_(net)
        _to_pyro_params_(net)
        self.net = net
        own_param_store_names(self)

    def bayesian_layers(self):
        """Iterate over ``(path, layer)`` of the Bayesian layers, in module order."""
        for module in self.net.modules():
            if isinstance(module, BayesianLayer):
                yield module.site_prefix, module

    def deterministic_layers(self):
        """
        The modules with parameters of their own that stay point estimates: ``{path: type name}`` (BatchNorm,
        LayerNorm, recurrent layers, layers without a prior, ...), the part of the network no prior compresses.
        """
        def plain_type(module):  # BatchNorm2d, not the PyroModule subclass Pyro made of it
            return next(t for t in type(module).__mro__ if not issubclass(t, PyroModule)).__name__

        return {path: plain_type(module) for path, module in self.net.named_modules()
                if not isinstance(module, BayesianLayer) and any(True for _ in module.parameters(recurse=False))}

    def pretrained_device(self):
        """The device of the network's weights."""
        return next(iter(self.pretrained().values())).device

    def pretrained(self):
        """``{weight site: initial weight}``, the plain network's weights."""
        return {layer.weight_site: layer.weight_init for _, layer in self.bayesian_layers()}

    def to_plain(self, weights):
        """
        A plain ``torch.nn`` copy of the network with the given weights and the current point
        estimates of every other parameter (biases, BatchNorm).

        :param dict weights: ``{layer path: weight}`` for every Bayesian layer.
        """
        plain = copy.deepcopy(self._plain[0])
        state = self._state()
        for path, layer in self.bayesian_layers():
            if path not in weights:
                raise ValueError(f"Expected a weight for layer {path!r}")
            state[f"{path}.weight"] = weights[path].detach().reshape(layer.weight_shape)
        # the Bayesian layers' own buffers (pretrained weights, prior state) stay behind
        plain.load_state_dict({key: value for key, value in state.items() if key in plain.state_dict()})
        return plain.to(next(iter(state.values())).device)

    def _state(self):
        # the point estimates as Pyro holds them (the param store's values, when it has them) and the buffers
        state = {}
        with torch.no_grad(), self._pyro_context:
            for path, _ in self.net.named_modules():
                module = functools.reduce(getattr, path.split("."), self.net) if path else self.net
                prefix = f"{path}." if path else ""
                for name in getattr(module, "_pyro_params", {}):
                    state[prefix + name] = getattr(module, name).detach()
                state.update({prefix + name: value.detach() for name, value in module.named_parameters(recurse=False)
                              if not name.endswith("_unconstrained")})  # kept as nn.Parameters (recurrent layers)
                state.update({prefix + name: value for name, value in module.named_buffers(recurse=False)})
        return state

    def sample_latents(self):
        """Run every layer's prior (no data); return ``{weight site: weight}``."""
        with poutine.scale(scale=self.kl_scale):
            return {layer.weight_site: layer.sample_weight() for _, layer in self.bayesian_layers()}

    def forward(self, x, y=None, context=None):
        """
        The model: forward pass with sampled weights, then the likelihood of ``y``. ``context`` is the context of
        conditional compression, which an amortised guide (:class:`~pyrocomp.guides.AutoConditionalGuide`) takes
        with the same arguments; the model's prior does not depend on it.
        """
        if not torch.is_tensor(x):
            raise TypeError(f"Expected x to be a tensor but got {type(x).__name__}")
        with poutine.scale(scale=self.kl_scale), ParticleFold(len(x)) as fold:
            output = fold.output(self.net(x))
        if self.dataset_size is None:
            warnings.warn(f"dataset_size is not set: the likelihood counts the mini-batch of {len(x)} alone, so the "
                          "prior weighs as if the data set were that small; pass BayesianNetwork(..., dataset_size=N) "
                          "(pyrocomp.infer.fit sets it)", RuntimeWarning, stacklevel=2)
        size = self.dataset_size or len(x)
        with pyro.plate("data", size=size, subsample=torch.arange(len(x), device=x.device)):
            self.likelihood(output, y)
        return output


def _refuse_shared_weights(net):
    # a layer called twice, or two layers holding one weight, would become unrelated Bayesian layers
    paths, weights = {}, {}
    for name, module in net.named_modules(remove_duplicate=False):
        if type(module) in BAYESIAN_LAYERS:
            paths.setdefault(id(module), []).append(name)
            weights.setdefault(id(module.weight), set()).add(name)
    shared = [names for names in paths.values() if len(names) > 1]
    shared += [sorted(names) for names in weights.values() if len(names) > 1 and sorted(names) not in shared]
    if shared:
        raise ValueError(f"Layers {shared[0]} share one weight; pyrocomp gives every layer a weight of its own "
                         "(tie them after compression, or use separate layers)")


def _to_pyro_params_(net):
    for module in net.modules():
        if isinstance(module, nn.RNNBase):  # recurrent layers keep their flattened nn.Parameters
            continue
        for name, value in list(module.named_parameters(recurse=False)):
            delattr(module, name)
            setattr(module, name, PyroParam(value.detach().clone()))
            getattr(module, f"{name}_unconstrained").requires_grad_(value.requires_grad)


def _replace(root, path, new):
    parent_path, _, child = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, child, new)
