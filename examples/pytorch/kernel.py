"""A tiled online-softmax attention written in PyTorch, the way a GPU kernel computes it.

gpt-oss semantics (attn-diff's SPEC section 2): a learned sink logit per query head, a sliding
window, grouped-query attention (query head h reads kv head h // (H / Hkv)), a decode offset
(query row i sits at absolute position q_offset + i) and a softmax scale. Inputs are bf16 (or
whatever dtype the caller passes); every tile is accumulated in float32 and the output is rounded
back to the input dtype once, at the end, as FlashAttention does.

The keys are visited `tile_kv` at a time with the online-softmax recurrence: a running row maximum
m, a running denominator l and an unnormalised accumulator acc, rescaled by exp(m_old - m_new)
whenever a tile raises the maximum. The sink is a logit that takes part in the maximum and the
denominator but has no value row, so it starts the recurrence as m = sink, l = 1.

`bug="window_off_by_one"` injects a classic mistake (the window lets one key too many through),
so you can watch a test catch it and attn-diff name it.
"""
import warnings

import torch

BUGS = ("none", "window_off_by_one")


def visible(q_pos, k_pos, causal, window, bug="none"):
    """[Sq, Sk] bool: which keys each query row sees (q_pos, k_pos: absolute positions)."""
    if bug == "window_off_by_one":
        window = window + 1 if window > 0 else 0
    qp, kp = q_pos[:, None], k_pos[None, :]
    mask = torch.ones(qp.shape[0], kp.shape[1], dtype=torch.bool)
    if causal:
        mask &= kp <= qp
        if window > 0:
            mask &= kp > qp - window
    elif window > 0:
        mask &= (qp - kp).abs() < window
    return mask


def attention(q, k, v, sinks=None, *, causal=True, window=0, q_offset=None, scale=None,
              tile_kv=128, mask_value=float("-inf"), bug="none"):
    """q: [B, Sq, H, D], k, v: [B, Sk, Hkv, D], sinks: [H] or None -> [B, Sq, H, D] in q's dtype.

    q_offset defaults to Sk - Sq (the queries are the last Sq tokens), scale to 1/sqrt(D).
    """
    if bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; known: {', '.join(BUGS)}")
    b, sq, h, d = q.shape
    sk, hkv = k.shape[1], k.shape[2]
    q_offset = sk - sq if q_offset is None else q_offset
    scale = d ** -0.5 if scale is None else scale
    group = h // hkv
    # float32, the accumulation dtype. GQA without copying K and V per query head: the queries as
    # [B, Hkv, group, Sq, D] against keys and values as [B, Hkv, 1, Sk, D] (query head h = kv head
    # h // group, member h % group), broadcast by matmul.
    qf = q.float().view(b, sq, hkv, group, d).permute(0, 2, 3, 1, 4)
    kf = k.float().permute(0, 2, 1, 3).unsqueeze(2)
    vf = v.float().permute(0, 2, 1, 3).unsqueeze(2)
    q_pos = q_offset + torch.arange(sq)
    rows = (b, hkv, group, sq, 1)

    if sinks is not None:
        m = sinks.float().view(1, hkv, group, 1, 1).expand(rows).clone()  # the sink joins the max...
        l = torch.ones(rows)                                               # ...and the denominator
    else:
        m = torch.full(rows, float("-inf"))
        l = torch.zeros(rows)
    acc = torch.zeros(b, hkv, group, sq, d)

    for start in range(0, sk, tile_kv):
        stop = min(start + tile_kv, sk)
        s = torch.matmul(qf, kf[..., start:stop, :].transpose(-1, -2)) * scale   # [B, Hkv, group, Sq, T]
        s = s.masked_fill(~visible(q_pos, torch.arange(start, stop), causal, window, bug), mask_value)
        m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))
        m_safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)  # a row seeing nothing yet
        p = torch.exp(s - m_safe)
        alpha = torch.exp(m - m_safe)
        l = l * alpha + p.sum(dim=-1, keepdim=True)
        acc = acc * alpha + torch.matmul(p, vf[..., start:stop, :])
        m = m_new

    # A row that sees no key and has no sink has l == 0: its output is 0 (SPEC section 2).
    out = torch.where(l > 0, acc / l.clamp_min(torch.finfo(torch.float32).tiny), torch.zeros_like(acc))
    return out.reshape(b, h, sq, d).transpose(1, 2).contiguous().to(q.dtype)


# The dtype a kernel takes its inputs in, per attn-diff precision recipe. CPU PyTorch has no fp8 or
# int8 matmul, so those recipes' (already dequantised) inputs stay float32.
INPUT_DTYPE = {"fp32": torch.float32, "bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16,
               "fp8-e4m3": torch.float32, "int8": torch.float32}


def run_case(case, bug="none"):
    """Runs `attention` on an attn_diff case's inputs with the case's settings; returns the output."""
    s = case.settings
    dtype = INPUT_DTYPE.get(s.get("precision", "bf16-mixed"), torch.float32)
    with warnings.catch_warnings():  # the arrays are read-only views of attn_diff's buffers; never written
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        x = {name: torch.from_numpy(a) for name, a in case.inputs.items()}  # zero-copy views
    tiles = s.get("tiles") or {}
    with torch.no_grad():
        return attention(x["q"].to(dtype), x["k"].to(dtype), x["v"].to(dtype), x.get("sinks"),
                         causal=s["causal"], window=s["window"], q_offset=s["q_offset"],
                         scale=s["scale"], tile_kv=int(tiles.get("kv", 128)),
                         mask_value=float(s.get("mask_value", float("-inf"))), bug=bug)
