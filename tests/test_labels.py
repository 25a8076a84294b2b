"""CrystalNN labels and MP-style site averaging on real MP structures."""

import pytest

from exafs_cn.datagen._labels import crystalnn_cn, is_integer_cn, site_averaged_cn
from exafs_cn.datagen._structures import StructureError, absorbers_in, inequivalent_sites


@pytest.mark.parametrize(
    ("name", "element", "expected"),
    [("Cu", "Cu", 12), ("NiO", "Ni", 6), ("ZnO", "Zn", 4), ("Fe", "Fe", 8)],
)
def test_crystalnn_gives_textbook_cn(structures, name, element, expected):
    sites = inequivalent_sites(structures[name], element)
    assert len(sites) == 1
    assert crystalnn_cn(structures[name], sites[0].site_index) == expected


def test_magnetite_sites_average_to_a_non_integer(structures):
    """Fe3O4: tetrahedral A sites (CN 4) and octahedral B sites (CN 6), 1:2."""
    fe3o4 = structures["Fe3O4"]
    sites = inequivalent_sites(fe3o4, "Fe")
    cns = [crystalnn_cn(fe3o4, s.site_index) for s in sites]
    assert set(cns) == {4, 6}
    assert sum(s.multiplicity for s in sites) == fe3o4.composition["Fe"]
    atoms_with = {cn: sum(s.multiplicity for c, s in zip(cns, sites) if c == cn) for cn in (4, 6)}
    assert atoms_with[6] == 2 * atoms_with[4]
    average = site_averaged_cn(cns, [s.multiplicity for s in sites])
    assert average == pytest.approx(16 / 3)
    assert not is_integer_cn(average)


def test_integer_average_is_integer():
    assert is_integer_cn(site_averaged_cn([4, 8], [2, 1]) - 1 / 3)  # (8+8)/3 - 1/3 = 5
    assert is_integer_cn(site_averaged_cn([6, 6], [1, 3]))


def test_absent_absorber_is_a_clear_error(structures):
    assert absorbers_in(structures["NiO"]) == ["Ni"]
    with pytest.raises(StructureError, match="no Cu atom"):
        inequivalent_sites(structures["NiO"], "Cu")
