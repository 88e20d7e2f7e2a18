"""Regenerate the API pages from each package's ``__all__``: ``python docs/api/generate.py`` from the project root."""
import importlib, inspect
PACKAGES = [
    ("distributions", "Distributions and KL rules"),
    ("mrf", "Support priors and belief propagation"),
    ("nn", "Bayesian networks"),
    ("priors", "Priors"),
    ("guides", "Guides"),
    ("infer", "Inference"),
    ("pruning", "Pruning and export"),
    ("diagnostics", "Diagnostics with ArviZ"),
    ("baselines", "Non-Bayesian baselines"),
    ("data", "Data sets"),
    ("models", "Models"),
    ("cli", "Command line"),
]
MODULES = [("pipeline", "One compression run"), ("plots", "Pictures")]
index = ["API reference", "=============", "", "Every public class and function, by layer (see :doc:`../design`).", "",
         ".. toctree::", "   :maxdepth: 1", ""]
for name, title in PACKAGES:
    m = importlib.import_module(f"pyrocomp.{name}")
    classes = [n for n in m.__all__ if inspect.isclass(getattr(m, n))]
    functions = [n for n in m.__all__ if callable(getattr(m, n)) and not inspect.isclass(getattr(m, n))]
    data = [n for n in m.__all__ if n not in classes and n not in functions]
    lines = [f"``pyrocomp.{name}``: {title}", "=" * (len(name) + 15 + len(title)), "",
             f".. automodule:: pyrocomp.{name}", "", f".. currentmodule:: pyrocomp.{name}", ""]
    for heading, names in (("Classes", classes), ("Functions", functions)):
        if names:
            lines += [heading, "-" * len(heading), "", ".. autosummary::", "   :toctree: generated", "   :nosignatures:", ""]
            lines += [f"   {n}" for n in names] + [""]
    if data:
        lines += ["Registries and constants", "------------------------", ""]
        import pathlib, re
        for n in data:
            home = next(f for f in sorted(pathlib.Path(f"pyrocomp/{name}").glob("*.py"))
                        if re.search(rf"^{n}\s*[:=]", f.read_text(), flags=re.M))
            lines.append(f".. autodata:: pyrocomp.{name}.{home.stem}.{n}\n   :no-value:\n")
    open(f"docs/api/{name}.rst", "w").write("\n".join(lines))
    index.append(f"   {name}")
for name, title in MODULES:
    lines = [f"``pyrocomp.{name}``: {title}", "=" * (len(name) + 15 + len(title)), "",
             f".. automodule:: pyrocomp.{name}", "   :members:", ""]
    open(f"docs/api/{name}.rst", "w").write("\n".join(lines))
    index.append(f"   {name}")
open("docs/api/index.rst", "w").write("\n".join(index) + "\n")
