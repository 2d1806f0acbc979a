"""Utilities: seeding, image files and datasets."""

from convolve.backend import clear_session as clear_session
from convolve.data.py_dataset import PyDataset as PyDataset
from convolve.data.py_dataset import Sequence as Sequence
from convolve.saving.registration import CustomObjectScope as CustomObjectScope
from convolve.saving.registration import custom_object_scope as custom_object_scope
from convolve.saving.registration import get_registered_name as get_registered_name
from convolve.saving.registration import get_registered_object as get_registered_object
from convolve.saving.registration import register_keras_serializable as register_keras_serializable
from convolve.training.data_adapter import pack as pack_x_y_sample_weight
from convolve.training.data_adapter import unpack as unpack_x_y_sample_weight
from convolve.training.progbar import Progbar as Progbar
from convolve.utils.data_utils import image_dataset_from_directory as image_dataset_from_directory
from convolve.utils.data_utils import normalize as normalize
from convolve.utils.data_utils import split_dataset as split_dataset
from convolve.utils.data_utils import to_categorical as to_categorical
from convolve.utils.file_utils import get_file as get_file
from convolve.utils.image_utils import array_to_img as array_to_img
from convolve.utils.image_utils import img_to_array as img_to_array
from convolve.utils.image_utils import load_img as load_img
from convolve.utils.image_utils import save_img as save_img
from convolve.utils.image_utils import smart_resize as smart_resize
from convolve.utils.random import set_random_seed
