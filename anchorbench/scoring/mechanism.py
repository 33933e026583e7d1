"""End-of-training probes of a model's mechanism, stored in ``result.json`` and plotted.

``matching-attention`` ([MATCH]): where attention goes in a matching task, per layer and
head, averaged over the first ``n`` examples of a split. The mechanism [MATCH] describes
is: layer 1 copies each parent onto its child (the child position attends to the parent
just before it), and each later layer performs one matching hop (the query position
attends to the child position of the edge whose parent is the current node). Columns:

* ``child->parent``: attention of every child position to its parent, averaged over edges;
* ``query->hop h``: attention of the query (last) position to the child position of the
  h-th edge of the walk, i.e. the position holding node n(i+h);
* ``query->self``: attention of the query position to itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from anchorbench.data.dataset import Dataset
from anchorbench.registry import PROBES


@dataclass(frozen=True)
class Probe:
    name: str
    compute: Callable[[Any, Dataset, Any], dict[str, Any]]  # (model, dataset, params) -> JSON-able
    plot: Callable[[dict[str, Any], Any], None] | None  # (probe data, png path)
    description: str


def _attention_blocks(model: Any) -> Any:
    blocks = getattr(model, "blocks", None)
    if not blocks or not all(hasattr(getattr(b, "attn", None), "attention_weights") for b in blocks):
        return None
    return blocks


def matching_attention(model: Any, dataset: Dataset, params: Any, split: str = "test", n: int = 512) -> dict[str, Any]:
    import torch

    blocks = _attention_blocks(model)
    if blocks is None:
        return {"skipped": f"{type(model).__name__} has no attention blocks to probe"}
    s = dataset.splits[split].head(n)
    tokens = torch.from_numpy(s.tokens.astype(np.int64))
    device = next(model.parameters()).device
    inputs: list[torch.Tensor] = []
    hooks = [b.attn.register_forward_pre_hook(lambda _m, args: inputs.append(args[0].detach())) for b in blocks]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(tokens.to(device))
            weights = [b.attn.attention_weights(x).cpu().numpy() for b, x in zip(blocks, inputs)]  # [B, H, T, T]
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)

    tok = s.tokens.astype(np.int64)
    n_edges = params.chain_len - 1
    parents, children = tok[:, 0 : 2 * n_edges : 2], tok[:, 1 : 2 * n_edges : 2]
    hops = s.meta["hops"].astype(np.int64)
    q = tok.shape[1] - 1
    rows = np.arange(len(s))
    # Child position of the edge taken at each hop of the walk from the query.
    targets = np.full((len(s), int(hops.max())), -1)
    current = tok[:, -1].copy()
    for h in range(int(hops.max())):
        edge = (parents == current[:, None]).argmax(axis=1)
        targets[:, h] = 2 * edge + 1
        current = children[rows, edge]
    copy, to_hop, to_self = [], [], []
    for a in weights:  # one layer: [B, H, T, T]
        child_pos = np.arange(n_edges) * 2 + 1
        copy.append(a[:, :, child_pos, child_pos - 1].mean(axis=(0, 2)).tolist())  # per head
        per_hop = []
        for h in range(targets.shape[1]):
            has = hops > h  # matching-order: only examples that take this many hops
            per_hop.append(a[rows[has], :, q, targets[has, h]].mean(axis=0))  # [H]
        to_hop.append(np.stack(per_hop, axis=1).tolist())  # [H, hops]
        to_self.append(a[:, :, q, q].mean(axis=0).tolist())
    return {
        "split": split,
        "n": len(s),
        "layers": len(weights),
        "heads": int(weights[0].shape[1]),
        "child_to_parent": copy,  # [layer][head]
        "query_to_hop": to_hop,  # [layer][head][hop-1]
        "query_to_self": to_self,  # [layer][head]
    }


def plot_matching_attention(data: dict[str, Any], path: Any) -> None:
    from anchorbench.render.figures import heatmaps

    if "skipped" in data:
        return
    n_hops = len(data["query_to_hop"][0][0])
    columns = ["child->parent", *(f"query->hop {h + 1}" for h in range(n_hops)), "query->self"]
    panels = []
    for head in range(data["heads"]):
        grid = [
            [
                data["child_to_parent"][layer][head],
                *data["query_to_hop"][layer][head],
                data["query_to_self"][layer][head],
            ]
            for layer in range(data["layers"])
        ]
        panels.append((f"head {head}", np.array(grid)))
    heatmaps(
        panels,
        row_labels=[f"layer {i + 1}" for i in range(data["layers"])],
        col_labels=columns,
        title=f"Attention mass ({data['split']} split, {data['n']} examples)",
        path=path,
        vmax=1.0,
    )


PROBES.register(
    "matching-attention",
    Probe("matching-attention", matching_attention, plot_matching_attention, "where attention goes, per layer"),
    origin="built-in",
)
