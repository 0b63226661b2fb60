import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from starter_code.data import FaceDataset, from_model_output, make_loader, to_model_input
from starter_code.formats import ImageFileError, load_images


def course_item(images: np.ndarray, i: int) -> torch.Tensor:
    """The course's CustomTensorDataset item: permute to channels-first, then Lambda(float32), Lambda(2x/255-1)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2)[i]
    x = x.to(torch.float32)
    return 2. * x / 255. - 1.


def test_batch_normalisation_equals_the_course_per_item_transform_exactly(random_images):
    batch = to_model_input(random_images)
    assert batch.dtype == torch.float32 and batch.shape == (10, 3, 64, 64)
    expected = torch.stack([course_item(random_images, i) for i in range(len(random_images))])
    assert torch.equal(batch, expected)  # bit for bit, not allclose


def test_every_byte_value_maps_like_the_course():
    values = np.arange(256, dtype=np.uint8)
    img = np.zeros((1, 64, 64, 3), np.uint8)
    img.reshape(-1)[:256] = values
    got = to_model_input(img).permute(0, 2, 3, 1).reshape(-1)[:256]
    assert torch.equal(got, 2. * torch.arange(256, dtype=torch.float32) / 255. - 1.)
    assert got[0] == -1 and got[255] == 1


def test_from_model_output_inverts_to_model_input(random_images):
    assert np.array_equal(from_model_output(to_model_input(random_images)), random_images)
    # out-of-range values are clipped, not wrapped
    assert from_model_output(torch.full((1, 3, 64, 64), 3.0)).min() == 255
    assert from_model_output(torch.full((1, 3, 64, 64), -3.0)).max() == 0
    with pytest.raises(ValueError, match="expected a tensor"):
        from_model_output(torch.zeros(1, 64, 64, 3))


def test_to_model_input_rejects_wrong_input():
    with pytest.raises(ImageFileError, match="uint8"):
        to_model_input(np.zeros((2, 64, 64, 3), np.float32))


def test_read_only_memory_mapped_images_are_used_without_copy_or_warning(tmp_path, random_images):
    path = tmp_path / "trainingset.npy"
    np.save(path, random_images)
    mapped = load_images(path, mmap=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = FaceDataset(mapped)
        assert torch.equal(ds.batch(slice(0, 3)), to_model_input(random_images[:3]))


def test_dataset_items_match_the_course_and_work_with_torch_dataloader(random_images):
    ds = FaceDataset(random_images)
    assert len(ds) == 10
    for i in (0, 7, -1):
        assert torch.equal(ds[i], course_item(random_images, i))
    loader = DataLoader(ds, batch_size=4, shuffle=False)
    assert torch.equal(torch.cat(list(loader)), to_model_input(random_images))
    assert torch.equal(ds[np.array([3, 1])], to_model_input(random_images[[3, 1]]))


def test_loader_batches_cover_every_image_once(random_images):
    loader = make_loader(random_images, batch_size=4, shuffle=False)
    batches = list(loader)
    assert len(loader) == 3 and [len(b) for b in batches] == [4, 4, 2]  # last batch kept, as in the course
    assert torch.equal(torch.cat(batches), to_model_input(random_images))  # shuffle=False keeps row order
    assert [len(b) for b in make_loader(random_images, 4, drop_last=True)] == [4, 4]


def test_shuffled_loader_is_a_seeded_permutation(random_images):
    full = to_model_input(random_images)

    def epoch(loader):
        return torch.cat(list(loader))

    a = make_loader(random_images, 3, shuffle=True, seed=5)
    first, second = epoch(a), epoch(a)
    b = epoch(make_loader(random_images, 3, shuffle=True, seed=5))
    assert torch.equal(first, b)              # same seed, same order
    assert not torch.equal(first, second)     # reshuffled every epoch
    assert not torch.equal(first, full)
    # a permutation of the rows: every image exactly once
    order = [int(torch.nonzero((full == row).all(dim=(1, 2, 3)))[0]) for row in first]
    assert sorted(order) == list(range(10))


def test_loader_rejects_bad_batch_size(random_images):
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(random_images, 0)


def test_to_device_keeps_the_images(random_images):
    ds = FaceDataset(random_images)
    moved = ds.to_device("cpu")
    assert moved.device == torch.device("cpu") and len(moved) == len(ds)
    assert torch.equal(moved.batch(np.array([4, 2])), ds.batch(np.array([4, 2])))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_normalisation_on_cuda_is_bit_identical(random_images):
    on_gpu = FaceDataset(random_images).to_device("cuda")
    assert torch.equal(on_gpu.batch(torch.arange(10)).cpu(), to_model_input(random_images))
    assert torch.equal(to_model_input(random_images, device="cuda").cpu(), to_model_input(random_images))
