import pytest
import torch

from engine import archs


@pytest.mark.parametrize("arch", ["rrdbnet", "srresnet"])
def test_four_named_stages_compose_to_the_forward_pass(arch):
    torch.manual_seed(0)
    net = archs.build(arch, num_feat=8, num_block=2).eval()
    assert list(net.stages()) == list(archs.STAGES)
    assert [name for name, _ in net.named_children()] == list(archs.STAGES)
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        y = x
        for stage in net.stages().values():
            y = stage(y)
        assert torch.equal(y, net(x))
    assert y.shape == (1, 3, 48, 40)


def test_default_rrdbnet_matches_realesrgan_x4plus_size():
    net = archs.build("rrdbnet")
    assert sum(p.numel() for p in net.parameters()) == 16_697_987
    assert len(net.body.blocks) == 23


def test_default_srresnet_follows_the_paper():
    net = archs.build("srresnet")
    assert net.feature_extraction.conv.kernel_size == (9, 9)
    assert isinstance(net.feature_extraction.act, torch.nn.PReLU)
    assert len(net.body.blocks) == 16
    block = net.body.blocks[0]
    assert [type(m).__name__ for m in block.children()] == ["Conv2d", "BatchNorm2d", "PReLU", "Conv2d", "BatchNorm2d", "Add"]
    assert [m.conv.out_channels for m in net.upsampling] == [256, 256]
    assert net.reconstruction.conv.kernel_size == (9, 9)


def test_config_rebuilds_the_same_shapes():
    net = archs.build("rrdbnet", num_feat=8, num_block=3, num_grow=4)
    twin = archs.build(net.arch_name, **net.config)
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in twin.state_dict().items()}


def test_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="unknown architecture 'edsr'"):
        archs.build("edsr")


def test_the_registry_refuses_a_second_architecture_of_the_same_name():
    from engine.archs import register

    with pytest.raises(ValueError, match="already registered"):
        register("rrdbnet")(type("Other", (archs.StagedSR,), {}))
    assert archs.build("rrdbnet", num_feat=8, num_block=1, num_grow=4).arch_name == "rrdbnet"


def test_each_architecture_recognises_its_own_checkpoints_and_says_its_scale(tiny_rrdb, tiny_srresnet, tmp_path):
    from engine.weights import describe_model, detect, load_model, save_model

    for net in (tiny_rrdb, tiny_srresnet):
        arch, config, _ = detect(net.state_dict())
        assert (arch, config) == (net.arch_name, net.config)
        mine = [name for name, found in archs.detectors() if found(dict(net.state_dict()), None) is not None]
        assert mine == [net.arch_name]
        path = save_model(net, tmp_path / f"{net.arch_name}.safetensors", {"name": net.arch_name})
        assert load_model(path)[1].scale == describe_model(path).scale == archs.scale_of(net.arch_name) == 4
        assert (describe_model(path).arch, describe_model(path).config) == (net.arch_name, net.config)
