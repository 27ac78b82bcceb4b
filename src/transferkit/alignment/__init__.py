"""Making representations similar: CORAL, SA, TCA, JDA, feature augmentation and OT mapping.

Each method is a pure function doing the math on arrays (:func:`coral_align`,
:func:`subspace_alignment`, :func:`tca_components`, :func:`jda_components`,
:func:`augment_features`, :func:`ot_map`) and a thin :class:`~transferkit.base.BaseAdapter` around it
that follows scikit-learn's estimator contract and composes with any classifier through
:class:`~transferkit.base.AdaptedClassifier`. Each is registered for suites and the CLI
(``transferkit bench SUITE --methods coral,sa,tca,jda,ot``).

The kernel methods (TCA, JDA) solve their eigenproblem on an explicit feature map ``Phi`` with
``K = Phi Phi^T`` (:mod:`transferkit.kernels`): exact below ``exact_threshold`` samples, Nyström
above, so their cost is ``O(n r^2)`` for ``r`` landmarks instead of ``O(n^3)``.

One module per family, each registering its methods where it defines them; importing this
package imports them all (which is how the registry finds every alignment method):

- ``coral``: CORAL (Sun et al. 2016);
- ``subspace``: subspace alignment (Fernando et al. 2013);
- ``kernel_components``: TCA (Pan et al. 2011), JDA (Long et al. 2013) and the trace-problem
  solvers they share;
- ``augmentation``: feature augmentation (Daumé III 2007);
- ``transport``: OT mapping (Courty et al. 2017);
- ``chain``: ``AdapterChain``, adapters one after another, and ``jda_ot`` (JDA, then OT inside
  its space), the chain it registers;
- ``common``: column means and covariances shared by the above.
"""

from transferkit.alignment.augmentation import FeatureAugmentation, augment_features
from transferkit.alignment.chain import AdapterChain
from transferkit.alignment.common import covariance
from transferkit.alignment.coral import CORAL, coral_align, coral_transform_matrix
from transferkit.alignment.kernel_components import (
    JDA,
    TCA,
    jda_components,
    tca_components,
    transfer_components,
)
from transferkit.alignment.subspace import SubspaceAlignment, principal_axes, subspace_alignment
from transferkit.alignment.transport import OTMapping, class_regularized_plan, ot_map

#: In the order of the family files (the API page follows it).
__all__ = [
    "CORAL",
    "SubspaceAlignment",
    "TCA",
    "JDA",
    "FeatureAugmentation",
    "OTMapping",
    "AdapterChain",
    "covariance",
    "coral_transform_matrix",
    "coral_align",
    "principal_axes",
    "subspace_alignment",
    "transfer_components",
    "tca_components",
    "jda_components",
    "augment_features",
    "class_regularized_plan",
    "ot_map",
]
