"""rea.trainers"""
