"""Rebuild cdr/face/reference_face.npy, the head-pose reference shape.

The reference is the FaceMesh shape of a real frontal photograph
(scikit-image's ``astronaut``), made mirror-symmetric and upright. Run:

    .venv/bin/python pipelines/make_reference_face.py
"""

import numpy as np
import skimage.data

from cdr.face.pose import REFERENCE_PATH, symmetric_reference
from cdr.face.track import landmarks_in_image

if __name__ == "__main__":
    lm = landmarks_in_image(np.ascontiguousarray(skimage.data.astronaut()))
    if lm is None:
        raise SystemExit("no face found in the reference photograph")
    ref = symmetric_reference(lm)
    np.save(REFERENCE_PATH, ref.astype(np.float32))
    print(f"wrote {REFERENCE_PATH} ({len(ref)} points)")
