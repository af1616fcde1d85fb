"""Writes tests/fixtures/deform_conv2d_torchvision.json: torchvision.ops.deform_conv2d values
and gradients on small random cases, converted to deformConv2d's NHWC layouts, for the
parity test in tests/deform_conv2d.test.ts.

Run from the repository root (Debian: apt-get install python3-torchvision):
    /usr/bin/python3 scripts/deform_conv2d_torchvision_fixture.py

Inputs are drawn as float32 numbers; torchvision then runs in float64 on exactly those
numbers, so the fixture holds the exact result for the float32 inputs. The loss whose
gradients are stored is sum(out * upstream), so `upstream` is the output's gradient.
"""
import json
import os
import tempfile

import torch
import torchvision
from torchvision.ops import deform_conv2d

OUT = os.path.join('tests', 'fixtures', 'deform_conv2d_torchvision.json')

# name, batch, in channels, height, width, out channels, kernel (kh, kw),
# stride, padding, dilation (pairs), offset groups, modulated, offset scale
CASES = [
    ('dcn_3x3_pad1', 2, 4, 6, 5, 3, (3, 3), (1, 1), (1, 1), (1, 1), 1, False, 1.5),
    ('dcnv2_2x3_stride2_dilated_2groups', 1, 4, 7, 6, 2, (2, 3), (2, 1), (1, 0), (1, 2), 2, True, 2.0),
    ('dcnv2_far_offsets', 1, 2, 4, 4, 2, (3, 3), (1, 1), (0, 0), (1, 1), 1, True, 6.0),
]


def nhwc(t):
    """(B, C, H, W) -> (B, H, W, C), flattened."""
    return t.permute(0, 2, 3, 1).reshape(-1).tolist()


def case(name, batch, cin, height, width, cout, kernel, stride, padding, dilation, groups, modulated, offset_scale):
    kh, kw = kernel
    out_h = (height + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    f32 = lambda *shape, scale=1.0: (torch.randn(*shape, dtype=torch.float32) * scale).double()
    x = f32(batch, cin, height, width).requires_grad_()
    offset = f32(batch, 2 * groups * kh * kw, out_h, out_w, scale=offset_scale).requires_grad_()
    weight = f32(cout, cin, kh, kw, scale=0.5).requires_grad_()
    bias = f32(cout).requires_grad_()
    mask = torch.rand(batch, groups * kh * kw, out_h, out_w, dtype=torch.float32).double().requires_grad_() if modulated else None
    out = deform_conv2d(x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask)
    upstream = f32(*out.shape)
    (out * upstream).sum().backward()
    result = {
        'name': name,
        'xShape': [batch, height, width, cin],
        'weightsShape': [kh, kw, cin, cout],
        'offsetsShape': [batch, out_h, out_w, 2 * groups * kh * kw],
        'outShape': [batch, out_h, out_w, cout],
        'strides': list(stride),
        # torchvision pads symmetrically: [[0, 0], [ph, ph], [pw, pw], [0, 0]] in tf.conv2d's terms.
        'padding': [[0, 0], [padding[0], padding[0]], [padding[1], padding[1]], [0, 0]],
        'dilations': list(dilation),
        'offsetGroups': groups,
        'x': nhwc(x.detach()),
        'offsets': nhwc(offset.detach()),
        # torchvision (Cout, Cin, kh, kw) -> tf.conv2d (kh, kw, Cin, Cout)
        'weights': weight.detach().permute(2, 3, 1, 0).reshape(-1).tolist(),
        'bias': bias.detach().tolist(),
        'upstream': nhwc(upstream),
        'out': nhwc(out.detach()),
        'dx': nhwc(x.grad),
        'dOffsets': nhwc(offset.grad),
        'dWeights': weight.grad.permute(2, 3, 1, 0).reshape(-1).tolist(),
        'dBias': bias.grad.tolist(),
    }
    if modulated:
        result['mask'] = nhwc(mask.detach())
        result['dMask'] = nhwc(mask.grad)
    return result


def rounded(value):
    if isinstance(value, float):
        return float('%.9g' % value)
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def main():
    torch.manual_seed(20170317)
    fixture = {
        'source': 'torchvision.ops.deform_conv2d %s (torch %s), float64 on float32 inputs' % (torchvision.__version__, torch.__version__),
        'generator': 'scripts/deform_conv2d_torchvision_fixture.py',
        'cases': [rounded(case(*c)) for c in CASES],
    }
    directory = os.path.dirname(OUT)
    with tempfile.NamedTemporaryFile('w', dir=directory, delete=False, suffix='.tmp') as f:
        json.dump(fixture, f, separators=(',', ':'))
        temp = f.name
    os.chmod(temp, 0o644)  # NamedTemporaryFile creates it private
    os.replace(temp, OUT)
    print('wrote %s (%d bytes)' % (OUT, os.path.getsize(OUT)))


if __name__ == '__main__':
    main()
