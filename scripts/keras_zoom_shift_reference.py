"""Reference outputs for tests/zoom_shift.test.ts, from the code the reference ran.

Keras 2.0.2's ImageDataGenerator.apply_transform, reduced to zoom and shift (no rotation,
no shear), resampling with scipy.ndimage.affine_transform(order 0 and 1, mode='nearest').
Random 28x28 images (uint8 / 255) and parameters drawn as Keras drew them.

usage: python3 scripts/keras_zoom_shift_reference.py N OUT.json   (needs numpy, scipy)
The committed tests/fixtures/zoom_shift_scipy.json is N=4 (scipy 1.17.1, numpy 2.4.6).
"""
import json, sys
import numpy as np
import scipy.ndimage as ndi

def transform_matrix_offset_center(matrix, x, y):
    o_x = float(x) / 2 + 0.5
    o_y = float(y) / 2 + 0.5
    offset_matrix = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset_matrix = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return np.dot(np.dot(offset_matrix, matrix), reset_matrix)

def keras_zoom_shift(img, zx, zy, tx, ty, order):
    translation_matrix = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    zoom_matrix = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    transform_matrix = np.dot(translation_matrix, zoom_matrix)
    h, w = img.shape
    transform_matrix = transform_matrix_offset_center(transform_matrix, h, w)
    return ndi.affine_transform(img, transform_matrix[:2, :2], transform_matrix[:2, 2], order=order, mode='nearest', cval=0.)

rng = np.random.RandomState(7)
cases = []
for k in range(int(sys.argv[1])):
    img = (rng.randint(0, 256, size=(28, 28)) / 255.0).astype(np.float32)
    tx = rng.uniform(-0.2, 0.2) * 28
    ty = rng.uniform(-0.2, 0.2) * 28
    zx, zy = rng.uniform(1.0, 2.5, 2)
    out0 = keras_zoom_shift(img, zx, zy, tx, ty, 0)
    out1 = keras_zoom_shift(img, zx, zy, tx, ty, 1)
    cases.append({'image': (img * 255).round().astype(int).flatten().tolist(),
                  'params': {'zoomRow': zx, 'zoomCol': zy, 'shiftRow': tx, 'shiftCol': ty},
                  'nearest': (out0 * 255).round().astype(int).flatten().tolist(),
                  'bilinear': [round(float(v), 6) for v in out1.flatten()]})
json.dump(cases, open(sys.argv[2], 'w'))
