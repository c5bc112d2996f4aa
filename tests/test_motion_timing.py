"""research.motion_timing: when in the clip videos change."""

import torch

from research.motion_timing import line, profile
from vgan_lib.metrics import motion_overlap


def test_the_profile_is_flat_for_steady_motion_and_peaks_where_every_video_changes_at_once():
    steady = torch.full((2, 3, 5, 4, 4), -1.0)
    for t in range(5):
        steady[:, :, t, 0, t % 4] = 1.0             # one pixel moves one step every frame
    p = profile(steady)
    assert p.shape == (4,) and torch.allclose(p, p[0].expand(4))
    flash = torch.full((2, 3, 5, 4, 4), -1.0)
    flash[:, :, 3:] = 1.0                            # every pixel changes between frames 2 and 3, and only then
    assert profile(flash).tolist() == [0.0, 0.0, 1.0, 0.0]
    assert line("flash", flash).startswith("flash: peak/mean 4.00, odd/even 0.00, clear overlap 1.00 |")
    # faint changes do not count: a clear change where the other video has only a faint one does not overlap
    a, b = torch.full((1, 3, 3, 4, 4), -1.0), torch.full((1, 3, 3, 4, 4), -1.0)
    a[:, :, 1:, 0, 0] = 1.0
    b[:, :, 1:, 0, 0] = -0.9
    b[:, :, 1:, 3, 3] = 1.0
    assert motion_overlap(torch.cat([a, b]), threshold=0.1) == 0.0 < motion_overlap(torch.cat([a, b]))
