import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from starter_code.data import (FaceDataset, ImageFileError, check_images, from_model_output, load_images,
                               make_loader, to_model_input)


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


def test_load_images_round_trip_and_mmap(tmp_path, random_images):
    path = tmp_path / "trainingset.npy"
    np.save(path, random_images)
    assert np.array_equal(load_images(path), random_images)
    mapped = load_images(path, mmap=True)
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped, random_images)
    # read-only arrays are used without copying and without torch warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = FaceDataset(mapped)
        assert torch.equal(ds.batch(slice(0, 3)), to_model_input(random_images[:3]))


def test_load_images_accepts_pickled_object_arrays(tmp_path, random_images):
    path = tmp_path / "testingset.npy"
    obj = np.empty(len(random_images), dtype=object)
    for i, img in enumerate(random_images):
        obj[i] = img
    np.save(path, obj, allow_pickle=True)
    assert np.array_equal(load_images(path), random_images)


def test_load_images_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npy: image file not found"):
        load_images(tmp_path / "nope.npy")
    cases = {
        "float.npy": (np.zeros((2, 64, 64, 3), np.float32), "expected dtype uint8, got float32"),
        "chw.npy": (np.zeros((2, 3, 64, 64), np.uint8), r"channels-first\?"),
        "one.npy": (np.zeros((64, 64, 3), np.uint8), r"single image\?"),
        "small.npy": (np.zeros((2, 32, 32, 3), np.uint8), r"got \(2, 32, 32, 3\)"),
    }
    for name, (arr, msg) in cases.items():
        np.save(tmp_path / name, arr)
        with pytest.raises(ImageFileError, match=rf"{name}.*{msg}"):
            load_images(tmp_path / name)
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(ImageFileError, match="junk.npy: not a .npy file"):
        load_images(tmp_path / "junk.npy")
    with open(tmp_path / "ragged.npy", "wb") as f:
        np.save(f, np.array([np.zeros((64, 64, 3), np.uint8), np.zeros((3,), np.uint8)], dtype=object),
                allow_pickle=True)
    with pytest.raises(ImageFileError, match="ragged.npy: object array"):
        load_images(tmp_path / "ragged.npy")
    (tmp_path / "cut.npy").write_bytes((tmp_path / "float.npy").read_bytes()[:200])
    with pytest.raises(ImageFileError, match="cut.npy: not a readable .npy file"):
        load_images(tmp_path / "cut.npy")
    np.savez(tmp_path / "arch.npz", a=np.zeros(3))
    with pytest.raises(ImageFileError, match="arch.npz: is an .npz archive"):
        load_images(tmp_path / "arch.npz")


def test_check_images_names_the_argument():
    with pytest.raises(ImageFileError, match="test images: expected a numpy array"):
        check_images([[1, 2]], "test images")
    assert check_images(torch.zeros(1, 64, 64, 3, dtype=torch.uint8)).shape == (1, 64, 64, 3)


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
