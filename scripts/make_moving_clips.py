"""Write moving-person clips with exact ground truth, for a look or for other tools.

Each clip pastes one person cut out of ``PERSONS/NAME.jpg`` (with its mask
``NAME.png``) onto a real background (the people-free top band of the first frame of
each ``VIDEOS/NAME/frames`` clip) along a known path, at 30 fps.  Output:
``OUT/moving-NAME/frames/NNNNN.jpg`` and ``OUT/moving-NAME/masks/NNNNN.png``.

The evaluation data is for research use only: write the clips to a scratch folder,
never into the repository.  ``livebokeh eval --moving-from PERSONS --videos VIDEOS``
makes the same clips in memory.

Usage: python scripts/make_moving_clips.py PERSONS VIDEOS OUT [--frames 60]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from livebokeh.evaluation import backgrounds, moving_clips_from, save_clip

log = logging.getLogger("make_moving_clips")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("persons", type=Path, help="folder of NAME.jpg + NAME.png (255 = person)")
    parser.add_argument("videos", type=Path, help="folder with NAME/frames clips (backgrounds are cut from them)")
    parser.add_argument("out", type=Path, help="output folder (created)")
    parser.add_argument("--frames", type=int, default=60, help="frames per clip (default 60)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    clips = moving_clips_from(args.persons, backgrounds(args.videos), frames=args.frames)
    for clip in clips:
        save_clip(clip, args.out)
        log.info("wrote %s (%d frames)", args.out / clip.name, len(clip.frames))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
