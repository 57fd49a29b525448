"""PySceneDetect's ContentDetector on one video; run in its own environment (not NarraScore's).

    /tmp/venv-scenedetect/bin/python benchmarks/scenedetect_worker.py VIDEO [THRESHOLD]

Prints one JSON line: the cut times (s, start of each scene after the first), the detection time
(s, ``detect()`` with the OpenCV backend and default settings, as a user would call it, or the
given ContentDetector threshold; the default is 27), the
import time and the versions.
"""

from __future__ import annotations

import json
import sys
import time

T0 = time.perf_counter()


def main() -> None:
    import cv2
    import scenedetect
    from scenedetect import ContentDetector, detect

    imported = time.perf_counter() - T0
    start, cpu = time.perf_counter(), time.process_time()
    detector = ContentDetector(threshold=float(sys.argv[2])) if len(sys.argv) > 2 else ContentDetector()
    scenes = detect(sys.argv[1], detector)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    cuts = [float(first.seconds) for first, _ in scenes[1:]]
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "import": imported, "cuts": cuts,
                      "versions": {"scenedetect": scenedetect.__version__, "opencv": cv2.__version__}}))


if __name__ == "__main__":
    main()
