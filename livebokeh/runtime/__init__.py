"""The pipelines: wiring of sources, segmenter, matte, compositor and sinks, no image maths.

Modules::

    live.py        the live pipeline (capture -> inference -> composite -> sinks)
    controls.py    its hotkeys and HUD;  warmup.py: its start-up practice run;  guard.py: bad masks
    convert.py     video files (decode -> mask -> composite -> encode);  segments.py: long files in pieces
    photo.py       still images (read -> matte -> composite -> write)
    cluster.py     convert on Ray (the driver);  cluster_tasks.py: what the workers run;
                   ray_session.py: reaching Ray
    mailbox.py     the one-slot mailbox and the bounded queue between threads
    workers.py     worker threads that stop on request and keep their error; stages of a chain
"""
