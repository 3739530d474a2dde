"""ComfyUI ``prompt`` (API graph) and ``workflow`` (UI graph) PNG chunks.

The API graph maps node id -> {class_type, inputs}; an input is a literal or a
link ``[node_id, output_index]``. We start at every sampler node and follow its
``positive`` / ``negative`` links upstream to the nodes that hold text, and its
``model`` link upstream through LoRA loaders to the checkpoint loader, so a
prompt is the text that actually reached the sampler, not every string in the
graph. Traversal is iterative, bounded and cycle-safe, and linear in the
graph: each walk (positive texts, negative texts, models) visits a node at
most once over *all* samplers, so N samplers linked in a cycle cost O(N),
not O(N^2) (which took minutes at N=2000).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .container import ContainerView
from .record import Evidence, Generation, ModelRef, ProvenanceRecord
from .util import as_float, as_int, as_str, loads

NAME = "comfyui"
_TEXT_KEYS = ("text", "text_g", "text_l", "prompt", "positive", "string", "value", "text_positive")
_SEED_KEYS = ("seed", "noise_seed")
_MAX_VISIT = 2000


def _is_link(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and isinstance(v[0], (str, int)) and isinstance(v[1], int)


class _Graph:
    def __init__(self, graph: dict, max_nodes: int):
        if not isinstance(graph, dict):
            raise ValueError("prompt graph is not an object")
        if len(graph) > max_nodes:
            raise ValueError(f"graph of {len(graph)} nodes over cap")
        self.nodes = {str(k): v for k, v in graph.items() if isinstance(v, dict)}

    def node(self, ref: Any) -> dict | None:
        return self.nodes.get(str(ref))

    def inputs(self, node: dict) -> dict:
        inp = node.get("inputs")
        return inp if isinstance(inp, dict) else {}

    def resolve_literal(self, value: Any, keys: tuple[str, ...], depth: int = 0) -> Any:
        """A literal input, or the literal a link points at (primitive nodes)."""
        while _is_link(value) and depth < 16:
            n = self.node(value[0])
            if n is None:
                return None
            inp = self.inputs(n)
            value = next((inp[k] for k in keys if k in inp), None)
            depth += 1
        return value

    def _upstream(
        self, start: Any, follow: Callable[[dict, dict], Iterable[Any]], seen: set[str] | None = None
    ) -> Iterator[dict]:
        """Nodes upstream of ``start`` (a link) not already in ``seen``, each
        once, ``_MAX_VISIT`` per walk at most; ``follow(node, inputs)`` names
        the links to walk on. A ``seen`` shared between walks makes a node's
        second visit free: whatever it leads to was collected the first time."""
        stack = [start]
        seen = set() if seen is None else seen
        budget = len(seen) + _MAX_VISIT
        while stack and len(seen) < budget:
            link = stack.pop()
            if not _is_link(link):
                continue
            nid = str(link[0])
            if nid in seen:
                continue
            seen.add(nid)
            node = self.node(nid)
            if node is None:
                continue
            yield node
            stack.extend(follow(node, self.inputs(node)))

    def upstream_texts(self, start: Any, seen: set[str] | None = None) -> list[str]:
        """Texts of the text-encoding nodes feeding ``start`` (a link)."""
        out: list[str] = []
        have: set[str] = set()

        def follow(node: dict, inp: dict) -> list[Any]:
            got_text = False
            for k in [k for k in inp if k in _TEXT_KEYS or k.startswith("text")]:
                v = self.resolve_literal(inp[k], _TEXT_KEYS)
                if isinstance(v, str):
                    got_text = True
                    t = v.strip()
                    if t and t not in have:
                        have.add(t)
                        out.append(t)
            if got_text and "clip" in inp:
                return []  # a text encoder: its other inputs are the CLIP model
            return [
                v
                for k, v in inp.items()
                if _is_link(v) and k not in ("clip", "vae", "model", "image", "pixels", "samples", "mask")
            ]

        for _ in self._upstream(start, follow, seen):
            pass
        return out

    def upstream_models(self, start: Any, seen: set[str] | None = None) -> list[ModelRef]:
        out: list[ModelRef] = []

        def follow(node: dict, inp: dict) -> list[Any]:
            return [v for k, v in inp.items() if _is_link(v) and k in ("model", "clip", "base_model", "unet")]

        for node in self._upstream(start, follow, seen):
            out.extend(self.node_models(node))
        return out

    def node_models(self, node: dict) -> list[ModelRef]:
        inp = self.inputs(node)
        out = []
        for key, kind in (
            ("ckpt_name", "checkpoint"),
            ("unet_name", "checkpoint"),
            ("model_name", "checkpoint"),
            ("lora_name", "lora"),
            ("vae_name", "vae"),
        ):
            v = self.resolve_literal(inp.get(key), (key, "value"))
            if isinstance(v, str) and v:
                weight = as_float(inp.get("strength_model", inp.get("strength"))) if kind == "lora" else None
                out.append(ModelRef(name=v, hash=None, kind=kind, weight=weight))
        return out

    def samplers(self) -> list[dict]:
        out = []
        for nid in sorted(self.nodes, key=lambda x: (len(x), x)):
            inp = self.inputs(self.nodes[nid])
            if (
                "positive" in inp
                or "negative" in inp
                or "guider" in inp
                or (any(k in inp for k in _SEED_KEYS) and "model" in inp)
            ):
                out.append(self.nodes[nid])
        return out

    def sampler_inputs(self, sampler: dict) -> dict:
        """The sampler's inputs, with SamplerCustomAdvanced-style indirection
        resolved: a ``guider`` node supplies positive/negative/model (or one
        ``conditioning``), a ``noise`` node supplies the seed."""
        inp = dict(self.inputs(sampler))
        guider = self.node(inp["guider"][0]) if _is_link(inp.get("guider")) else None
        if guider is not None:
            g = self.inputs(guider)
            for k in ("positive", "negative", "model"):
                if k in g and k not in inp:
                    inp[k] = g[k]
            if "conditioning" in g and "positive" not in inp:
                inp["positive"] = g["conditioning"]
        noise = self.node(inp["noise"][0]) if _is_link(inp.get("noise")) else None
        if noise is not None:
            for k in _SEED_KEYS:
                if k in self.inputs(noise) and k not in inp:
                    inp[k] = self.inputs(noise)[k]
        return inp


def generation_from_prompt_graph(graph: dict, max_nodes: int) -> Generation:
    g = _Graph(graph, max_nodes)
    gen = Generation(family=NAME, tool="ComfyUI")
    walked: dict[str, set[str]] = {"positive": set(), "negative": set(), "model": set()}
    have_models: set[tuple[str, str]] = set()

    def add_models(models: Iterable[ModelRef]) -> None:
        for m in models:
            if (m.name, m.kind) not in have_models:
                have_models.add((m.name, m.kind))
                gen.models.append(m)

    prompts, negatives, seeds = set(), set(), set()
    for s in g.samplers():
        inp = g.sampler_inputs(s)
        for t in g.upstream_texts(inp.get("positive"), walked["positive"]):
            if t not in prompts:
                prompts.add(t)
                gen.prompts.append(t)
        for t in g.upstream_texts(inp.get("negative"), walked["negative"]):
            if t not in negatives:
                negatives.add(t)
                gen.negative_prompts.append(t)
        for k in _SEED_KEYS:
            seed = as_int(g.resolve_literal(inp.get(k), _SEED_KEYS + ("value",)))
            if seed is not None and seed not in seeds:
                seeds.add(seed)
                gen.seeds.append(seed)
        add_models(g.upstream_models(inp.get("model"), walked["model"]))
        if gen.sampler is None:
            gen.sampler = as_str(g.resolve_literal(inp.get("sampler_name"), ("sampler_name", "value")))
            gen.steps = as_int(g.resolve_literal(inp.get("steps"), ("steps", "value")))
    # Model loaders not reached from a sampler (e.g. custom sampler graphs).
    for node in g.nodes.values():
        add_models(g.node_models(node))
    for node in g.nodes.values():
        inp = g.inputs(node)
        w, h = as_int(inp.get("width")), as_int(inp.get("height"))
        if w and h and "Latent" in str(node.get("class_type", "")):
            gen.size = (w, h)
            break
    return gen


def generation_from_workflow(wf: dict, max_nodes: int) -> Generation:
    """Fallback when only the UI graph is present: no link-following, just
    the widget values of well-known node types."""
    gen = Generation(family=NAME, tool="ComfyUI")
    nodes = wf.get("nodes") if isinstance(wf, dict) else None
    if not isinstance(nodes, list):
        raise ValueError("workflow has no node list")
    for node in nodes[:max_nodes]:
        if not isinstance(node, dict):
            continue
        t = str(node.get("type", ""))
        wv = node.get("widgets_values")
        if not isinstance(wv, list) or not wv:
            continue
        if "TextEncode" in t and isinstance(wv[0], str) and wv[0].strip():
            gen.prompts.append(wv[0].strip())
        elif "CheckpointLoader" in t or t == "UNETLoader":
            name = next((v for v in wv if isinstance(v, str) and "." in v), None)
            if name:
                gen.models.append(ModelRef(name=name, kind="checkpoint"))
        elif t.startswith("LoraLoader") and isinstance(wv[0], str):
            gen.models.append(ModelRef(name=wv[0], kind="lora", weight=as_float(wv[1]) if len(wv) > 1 else None))
        elif "Sampler" in t and len(wv) > 0:
            seed = as_int(wv[0])
            if seed is not None:
                gen.seeds.append(seed)
    return gen


def extract(view: ContainerView, rec: ProvenanceRecord) -> None:
    opts = view.options
    prompt_txt = view.text.get("prompt")
    workflow_txt = view.text.get("workflow")
    if prompt_txt is None and workflow_txt is None:
        return
    gen = None
    if prompt_txt is not None and prompt_txt.lstrip().startswith("{"):
        graph = loads(prompt_txt, opts.max_json_depth)
        gen = generation_from_prompt_graph(graph, opts.max_graph_nodes)
    elif workflow_txt is not None and workflow_txt.lstrip().startswith("{"):
        gen = generation_from_workflow(loads(workflow_txt, opts.max_json_depth), opts.max_graph_nodes)
    if gen is None:
        return
    rec.add_generation(gen, Evidence("generator_metadata", "declared", "ComfyUI workflow graph in PNG text chunks"))
