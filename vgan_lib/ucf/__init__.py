"""UCF-101 action recognition: is the VideoGAN discriminator a feature learner?"""
